//! Accounts and API keys: the sandbox account created on first start, and `vinr account create`.
//! Keys are stored hashed, so their plaintext can only be shown at creation.

use anyhow::{Context, bail};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};
use vinr_shared::keys::{self, KeyKind};

use crate::rand::fill;

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

/// `VINR_DEV_SECRET_KEY` and `--secret-key` must be sandbox secret keys of the right shape and
/// long enough not to be guessed (`keys::MIN_CHOSEN_KEY_CHARS`).
fn check_test_secret_key(key: &str) -> anyhow::Result<()> {
    match keys::chosen_secret_key_problem(key, false) {
        None => Ok(()),
        Some(problem) => bail!("the sandbox secret key {:?} {problem}", keys::redact_key(key)),
    }
}

/// One row to insert: its table and (column, value) pairs. Account creation produces its rows
/// once; they are then either executed on a connection ([`Row::insert`]) or written out as
/// literal SQL ([`Row::to_sql_literal`], for `vinr account create --sql`, which D1 runs).
#[derive(Clone, Debug)]
pub struct Row {
    pub table: &'static str,
    pub columns: Vec<(&'static str, Value)>,
}

impl Row {
    fn column_list(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// Executes the row's INSERT on `conn`, with bound parameters.
    pub fn insert(&self, conn: &Connection) -> rusqlite::Result<usize> {
        let placeholders: Vec<String> = (1..=self.columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.table,
            self.column_list(),
            placeholders.join(", ")
        );
        conn.execute(&sql, rusqlite::params_from_iter(self.columns.iter().map(|(_, v)| v)))
    }

    /// The row's INSERT as one self-contained SQL statement (ending in `;`).
    pub fn to_sql_literal(&self) -> String {
        let values: Vec<String> = self.columns.iter().map(|(_, v)| sql_literal(v)).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({});",
            self.table,
            self.column_list(),
            values.join(", ")
        )
    }

    fn text(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(c, _)| *c == column)
            .and_then(|(_, v)| match v {
                Value::Text(s) => Some(s.as_str()),
                _ => None,
            })
    }
}

/// A value as an SQLite literal: text in single quotes with `'` doubled, blobs as `X'..'`.
pub fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => format!("{f:?}"),
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Blob(b) => format!("X'{}'", keys::hex(b)),
    }
}

fn key_row(account: &str, key: &str, kind: KeyKind, livemode: bool, created: i64) -> Row {
    Row {
        table: "api_keys",
        columns: vec![
            ("id", Value::Text(vinr_shared::ids::new_id("key_", &mut fill))),
            ("key_hash", Value::Text(keys::hash_key(key))),
            ("account_id", Value::Text(account.into())),
            ("livemode", Value::Integer(livemode as i64)),
            ("kind", Value::Text(kind.as_str().into())),
            ("redacted", Value::Text(keys::redact_key(key))),
            ("created", Value::Integer(created)),
        ],
    }
}

fn insert_key(conn: &Connection, account: &str, key: &str, kind: KeyKind, livemode: bool) -> rusqlite::Result<()> {
    key_row(account, key, kind, livemode, crate::db::now_unix()).insert(conn)?;
    Ok(())
}

/// A new account with four keys (sandbox and live, secret and public) and the rows that store
/// it: the `accounts` row, then one `api_keys` row per key. Nothing is written.
pub fn new_account(
    name: &str,
    secret_key: Option<&str>,
    platform: Option<&str>,
) -> anyhow::Result<(NewAccount, Vec<Row>)> {
    if let Some(k) = secret_key {
        check_test_secret_key(k)?;
    }
    if let Some(p) = platform
        && !(p.starts_with("acct_") && p.len() <= 64 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        anyhow::bail!("--platform must be an account id (acct_...), not {p:?}");
    }
    let account = vinr_shared::ids::new_id("acct_", &mut fill);
    let mut fp = [0u8; 32];
    fill(&mut fp);
    let new = NewAccount {
        secret_key: secret_key
            .map(str::to_string)
            .unwrap_or_else(|| keys::new_key(KeyKind::Secret, false, &mut fill)),
        public_key: keys::new_key(KeyKind::Public, false, &mut fill),
        live_secret_key: keys::new_key(KeyKind::Secret, true, &mut fill),
        live_public_key: keys::new_key(KeyKind::Public, true, &mut fill),
        account,
    };
    let created = crate::db::now_unix();
    let rows = vec![
        Row {
            table: "accounts",
            columns: vec![
                ("id", Value::Text(new.account.clone())),
                ("name", Value::Text(name.into())),
                ("fingerprint_key", Value::Text(keys::hex(&fp))),
                ("created", Value::Integer(created)),
                ("platform_id", platform.map_or(Value::Null, |p| Value::Text(p.into()))),
            ],
        },
        key_row(&new.account, &new.secret_key, KeyKind::Secret, false, created),
        key_row(&new.account, &new.public_key, KeyKind::Public, false, created),
        key_row(&new.account, &new.live_secret_key, KeyKind::Secret, true, created),
        key_row(&new.account, &new.live_public_key, KeyKind::Public, true, created),
    ];
    Ok((new, rows))
}

/// A new account with four keys (sandbox and live, secret and public), in one transaction.
pub fn create_account(
    conn: &Connection,
    name: &str,
    secret_key: Option<&str>,
    platform: Option<&str>,
) -> anyhow::Result<NewAccount> {
    let (new, rows) = new_account(name, secret_key, platform)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> anyhow::Result<()> {
        for row in &rows {
            row.insert(conn).with_context(|| match row.text("redacted") {
                Some(key) => format!("storing the key {key} (is it already in use?)"),
                None => format!("inserting into {}", row.table),
            })?;
        }
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

/// A new account as literal SQL, one INSERT per line, for a database this process cannot open
/// (Cloudflare D1: `wrangler d1 execute DB --file`). No BEGIN/COMMIT: D1 refuses explicit
/// transactions, and runs a file's statements as one batch.
pub fn create_account_sql(
    name: &str,
    secret_key: Option<&str>,
    platform: Option<&str>,
) -> anyhow::Result<(NewAccount, String)> {
    let (new, rows) = new_account(name, secret_key, platform)?;
    let mut sql = String::new();
    for row in &rows {
        sql.push_str(&row.to_sql_literal());
        sql.push('\n');
    }
    Ok((new, sql))
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
        .query_row("SELECT id FROM accounts ORDER BY created, rowid LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    match first {
        None => {
            let created = create_account(conn, "Sandbox", env_key.as_deref(), None)?;
            println!("Created the sandbox account.");
            print_new_account(&created);
        }
        Some(account) => {
            println!("Account {account}");
            if let Some(k) = env_key {
                let owner: Option<String> = conn
                    .query_row(
                        "SELECT account_id FROM api_keys WHERE key_hash = ?1",
                        [keys::hash_key(&k)],
                        |r| r.get(0),
                    )
                    .optional()?;
                match owner {
                    None => {
                        insert_key(conn, &account, &k, KeyKind::Secret, false)?;
                        println!(
                            "  Added VINR_DEV_SECRET_KEY ({}) as a sandbox secret key.",
                            keys::redact_key(&k)
                        );
                    }
                    Some(_) => println!(
                        "  Sandbox secret key from VINR_DEV_SECRET_KEY ({}).",
                        keys::redact_key(&k)
                    ),
                }
            }
            println!("  API keys were printed when the account was created (only their hashes are stored).");
            println!("  `vinr account create` makes a new account with fresh keys.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The project's schema in an in-memory database, as D1 would have it after
    /// `wrangler d1 migrations apply`.
    fn migrated() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        for f in files {
            conn.execute_batch(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        conn
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(sql_literal(&Value::Text("O'Brien's".into())), "'O''Brien''s'");
        assert_eq!(sql_literal(&Value::Integer(-3)), "-3");
        assert_eq!(sql_literal(&Value::Null), "NULL");
        assert_eq!(sql_literal(&Value::Blob(vec![0, 255])), "X'00ff'");
    }

    #[test]
    fn account_sql_creates_working_keys() {
        let conn = migrated();
        let (a, sql_a) = create_account_sql(
            "O'Brien \"quoted\" -- account",
            Some("sk_test_FixedKey1234567890abcdefgh"),
            None,
        )
        .unwrap();
        let (b, sql_b) = create_account_sql("Account", None, None).unwrap();
        assert!(!sql_a.to_ascii_uppercase().contains("BEGIN") && !sql_a.to_ascii_uppercase().contains("COMMIT"));
        assert_eq!(sql_a.lines().count(), 5);
        // As the test harness does: both accounts in one file.
        conn.execute_batch(&format!("{sql_a}{sql_b}")).unwrap();

        let name: String = conn
            .query_row("SELECT name FROM accounts WHERE id = ?1", [&a.account], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "O'Brien \"quoted\" -- account");
        assert_eq!(a.secret_key, "sk_test_FixedKey1234567890abcdefgh");
        for (acct, key, kind, live) in [
            (&a, &a.secret_key, "secret", 0),
            (&a, &a.public_key, "public", 0),
            (&a, &a.live_secret_key, "secret", 1),
            (&a, &a.live_public_key, "public", 1),
            (&b, &b.secret_key, "secret", 0),
            (&b, &b.live_public_key, "public", 1),
        ] {
            // What authentication looks up: the hash of the presented key.
            let (owner, k, l, redacted): (String, String, i64, String) = conn
                .query_row(
                    "SELECT account_id, kind, livemode, redacted FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
                    [keys::hash_key(key)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!((owner.as_str(), k.as_str(), l), (acct.account.as_str(), kind, live));
            assert_eq!(redacted, keys::redact_key(key));
        }
        let n: i64 = conn
            .query_row("SELECT count(*) FROM api_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 8);
        let fp: String = conn
            .query_row(
                "SELECT fingerprint_key FROM accounts WHERE id = ?1",
                [&b.account],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fp.len(), 64);
    }

    #[test]
    fn both_paths_store_the_same_columns() {
        let direct = migrated();
        let a = create_account(&direct, "Account", None, None).unwrap();
        let via_sql = migrated();
        let (b, sql) = create_account_sql("Account", None, None).unwrap();
        via_sql.execute_batch(&sql).unwrap();
        let shape = |conn: &Connection, account: &str| -> Vec<(String, i64, String)> {
            conn.prepare(
                "SELECT kind, livemode, typeof(created) FROM api_keys WHERE account_id = ?1 ORDER BY kind, livemode",
            )
            .unwrap()
            .query_map([account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        assert_eq!(shape(&direct, &a.account), shape(&via_sql, &b.account));
        assert_eq!(shape(&direct, &a.account).len(), 4);
    }

    #[test]
    fn bad_secret_key_is_refused() {
        assert!(create_account_sql("Account", Some("pk_test_abc"), None).is_err());
        // Review L4: a short key chosen by hand is guessable.
        let e = create_account_sql("Account", Some("sk_test_local"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("too short") && e.contains("at least 24"), "{e}");
    }
}
