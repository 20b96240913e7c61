//! Accounts and API keys: the sandbox account created on first start, and `vinr account create`.
//! Keys are stored hashed, so their plaintext can only be shown at creation.

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params};
use vinr_shared::keys::{self, KeyKind};

pub fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random number generator failed");
}

pub struct NewAccount {
    pub account: String,
    pub secret_key: String,
    pub public_key: String,
    pub live_secret_key: String,
    pub live_public_key: String,
}

impl NewAccount {
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "account": self.account,
            "secret_key": self.secret_key,
            "public_key": self.public_key,
            "live_secret_key": self.live_secret_key,
            "live_public_key": self.live_public_key,
        })
        .to_string()
    }
}

/// `VINR_DEV_SECRET_KEY` and `--secret-key` must be sandbox secret keys of the right shape.
fn check_test_secret_key(key: &str) -> anyhow::Result<()> {
    match keys::key_shape(key) {
        Some(shape) if shape.kind == KeyKind::Secret && !shape.livemode => Ok(()),
        _ => bail!("{:?} is not a sandbox secret key (expected sk_test_ followed by letters and digits)", keys::redact_key(key)),
    }
}

fn insert_key(conn: &Connection, account: &str, key: &str, kind: KeyKind, livemode: bool) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO api_keys (key_hash, account_id, livemode, kind, redacted, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![keys::hash_key(key), account, livemode as i64, kind.as_str(), keys::redact_key(key), crate::db::now_unix()],
    )?;
    Ok(())
}

/// A new account with four keys (sandbox and live, secret and public), in one transaction.
pub fn create_account(conn: &Connection, name: &str, secret_key: Option<&str>) -> anyhow::Result<NewAccount> {
    if let Some(k) = secret_key {
        check_test_secret_key(k)?;
    }
    let account = vinr_shared::ids::new_id("acct_", &mut fill);
    let mut fp = [0u8; 32];
    fill(&mut fp);
    let new = NewAccount {
        secret_key: secret_key.map(str::to_string).unwrap_or_else(|| keys::new_key(KeyKind::Secret, false, &mut fill)),
        public_key: keys::new_key(KeyKind::Public, false, &mut fill),
        live_secret_key: keys::new_key(KeyKind::Secret, true, &mut fill),
        live_public_key: keys::new_key(KeyKind::Public, true, &mut fill),
        account,
    };
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> anyhow::Result<()> {
        conn.execute(
            "INSERT INTO accounts (id, name, fingerprint_key, created) VALUES (?1, ?2, ?3, ?4)",
            params![new.account, name, keys::hex(&fp), crate::db::now_unix()],
        )?;
        insert_key(conn, &new.account, &new.secret_key, KeyKind::Secret, false)
            .context("storing the secret key (is it already in use?)")?;
        insert_key(conn, &new.account, &new.public_key, KeyKind::Public, false)?;
        insert_key(conn, &new.account, &new.live_secret_key, KeyKind::Secret, true)?;
        insert_key(conn, &new.account, &new.live_public_key, KeyKind::Public, true)?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(new)
}

pub fn print_new_account(a: &NewAccount) {
    println!("Account {}", a.account);
    println!("  Sandbox secret key:  {}", a.secret_key);
    println!("  Sandbox public key:  {}", a.public_key);
    println!("  Live secret key:     {}", a.live_secret_key);
    println!("  Live public key:     {}", a.live_public_key);
    println!("  (Live keys authenticate, but refuse to process payments: no acquirer is connected.)");
    println!("  Keys are stored hashed: copy them now, they will not be shown again.");
}

/// `VINR_DEV_SECRET_KEY`, checked: a fixed sandbox key lets tests and scripts skip reading the
/// start-up output.
pub fn dev_secret_key_from_env() -> anyhow::Result<Option<String>> {
    let key = std::env::var("VINR_DEV_SECRET_KEY").ok().filter(|k| !k.is_empty());
    if let Some(k) = &key {
        check_test_secret_key(k).context("VINR_DEV_SECRET_KEY")?;
    }
    Ok(key)
}

/// On `vinr dev`: makes sure there is an account and prints what can be printed.
pub fn ensure_sandbox_account(conn: &Connection) -> anyhow::Result<()> {
    let env_key = dev_secret_key_from_env()?;
    let first: Option<String> = conn
        .query_row("SELECT id FROM accounts ORDER BY created, rowid LIMIT 1", [], |r| r.get(0))
        .optional()?;
    match first {
        None => {
            let created = create_account(conn, "Sandbox", env_key.as_deref())?;
            println!("Created the sandbox account.");
            print_new_account(&created);
        }
        Some(account) => {
            println!("Account {account}");
            if let Some(k) = env_key {
                let owner: Option<String> = conn
                    .query_row("SELECT account_id FROM api_keys WHERE key_hash = ?1", [keys::hash_key(&k)], |r| r.get(0))
                    .optional()?;
                match owner {
                    None => {
                        insert_key(conn, &account, &k, KeyKind::Secret, false)?;
                        println!("  Added VINR_DEV_SECRET_KEY ({}) as a sandbox secret key.", keys::redact_key(&k));
                    }
                    Some(_) => println!("  Sandbox secret key from VINR_DEV_SECRET_KEY ({}).", keys::redact_key(&k)),
                }
            }
            println!("  API keys were printed when the account was created (only their hashes are stored).");
            println!("  `vinr account create` makes a new account with fresh keys.");
        }
    }
    Ok(())
}
