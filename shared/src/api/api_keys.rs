//! `/v1/api_keys`: an environment's keys (secret, public and restricted), creating restricted
//! keys with their permissions (`crate::permissions`), rolling and revoking. Secret keys only:
//! the pipeline's permission check refuses restricted keys here (the path is in no resource
//! group) and authentication refuses public keys everywhere. A key of one environment sees and
//! manages that environment's keys only; another account's key ids are 404.
//!
//! Keys are stored hashed (`crate::keys`): a new key's secret is in the response of create or
//! roll and nowhere else (declared `shows_once`, so an idempotent replay answers it null). Keys live on real time (`created`, `expires_at`), not on the sandbox
//! clock: authentication checks expiry against the wall clock.

use super::Outcome;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::keys::{self, KeyKind};
use crate::list::{self, ListSpec};
use crate::permissions::{GROUPS, LEVELS, Level, Permissions};
use crate::port::{Db, Env, GUARD_ONE_SQL, Row, SqlValue, Stmt};
use crate::sql_params;
use crate::store::to_json;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Roll,
    Revoke,
}

/// The `permissions` parameter: one optional level per resource group, from the one table.
const PERMISSION_FIELDS: [Field; GROUPS.len()] = {
    let mut out = [Field::one_of("", LEVELS); GROUPS.len()];
    let mut i = 0;
    while i < GROUPS.len() {
        out[i] = Field::one_of(GROUPS[i].name, LEVELS).doc(GROUPS[i].doc);
        i += 1;
    }
    out
};

/// How long a rolled key keeps working by default, and at most.
const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
const MAX_GRACE_SECS: i64 = 7 * 24 * 3600;
/// Keys of one environment that are neither revoked nor expired, at most (restricted keys are
/// refused beyond it; revoke unused ones).
const MAX_ACTIVE_KEYS: i64 = 100;

const FORBIDDEN: &str = "A public or restricted key: only secret keys (sk_...) manage API keys.";

pub const OPS: &[Op<Action>] = &[
    Op::post("api_keys", "create", Action::Create)
        .summary("Create a restricted API key")
        .fields(&[
            Field::str("name", 100)
                .required()
                .doc("What the key is for, e.g. \"reporting\"."),
            Field::object("permissions", &PERMISSION_FIELDS)
                .required()
                .doc("Resource group to `none`, `read` or `write` (write implies read); groups not named are `none`."),
        ])
        .forbidden(FORBIDDEN)
        .shows_once(&["secret"])
        .answers("ApiKey"),
    Op::get("api_keys", "list", Action::List)
        .summary("List the environment's API keys (never their secrets)")
        .list()
        .forbidden(FORBIDDEN)
        .answers("ApiKeyList"),
    Op::get("api_keys/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve an API key (never its secret)")
        .forbidden(FORBIDDEN)
        .answers("ApiKey"),
    Op::post("api_keys/:id/roll", "roll", Action::Roll)
        .summary("Roll an API key: a new key replaces it, and it keeps working until its expires_at")
        .fields(&[Field::int_in("expire_previous_after", 0, MAX_GRACE_SECS)
            .default("86400")
            .doc("Seconds the rolled key keeps working; 0 ends it at once.")])
        .forbidden(FORBIDDEN)
        .shows_once(&["secret"])
        .answers("ApiKey"),
    Op::delete("api_keys/:id", "revoke", Action::Revoke)
        .summary("Revoke an API key (restricted keys, and rolled keys before they expire)")
        .forbidden(FORBIDDEN)
        .answers("ApiKey"),
];

/// An API key as the API shows it: never its secret (create and roll add `secret` to theirs).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(transform = schema::rendered))]
pub struct ApiKey {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^key_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "api_key")))]
    pub object: &'static str,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["secret", "public", "restricted"])))]
    pub kind: &'static str,
    pub name: Option<String>,
    /// The key's prefix and first characters: enough to recognise it, never to use it.
    pub redacted: String,
    pub livemode: bool,
    /// A restricted key's grant, every resource group with its level; null for other keys.
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::permissions"))]
    pub permissions: Option<Value>,
    pub created: i64,
    /// When a rolled key stops working (unix seconds, real time); null until it is rolled.
    pub expires_at: Option<i64>,
    pub revoked: bool,
    /// The key this one replaced, if it came from a roll.
    pub rolled_from: Option<String>,
}

/// The parts of the key schema not derived from the struct (the `openapi` feature).
#[cfg(feature = "openapi")]
mod schema {
    use crate::permissions::{GROUPS, LEVELS};
    use schemars::{Schema, SchemaGenerator};
    use serde_json::{Map, Value, json};

    pub fn permissions(_: &mut SchemaGenerator) -> Schema {
        let props: Map<String, Value> = GROUPS
            .iter()
            .map(|g| {
                (
                    g.name.to_string(),
                    json!({ "type": "string", "enum": LEVELS, "description": g.doc }),
                )
            })
            .collect();
        let required: Vec<&str> = GROUPS.iter().map(|g| g.name).collect();
        let object =
            json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false });
        Schema::try_from(json!({ "anyOf": [{ "type": "null" }, object] })).expect("an object schema")
    }

    pub fn rendered(s: &mut Schema) {
        if let Some(p) = s.get_mut("properties").and_then(Value::as_object_mut) {
            p.insert(
                "secret".into(),
                json!({ "type": ["string", "null"], "description": "The key itself: only in the responses of create and roll, shown once (an idempotent replay answers null: it is never stored)." }),
            );
            p.insert(
                "previous_expires_at".into(),
                json!({ "type": "integer", "description": "Only in the response of roll: when the rolled key stops working." }),
            );
        }
    }
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let page = p.page()?;
            let spec = ListSpec {
                table: "api_keys",
                filter: String::new(),
                filter_params: vec![],
            };
            let (rows, has_more) = list::fetch_rows(cx.db, &cx.acct, spec, &page, COLUMNS).await?;
            let data = rows
                .iter()
                .map(|r| from_row(r).map(|k| to_json(&k)))
                .collect::<ApiResult<_>>()?;
            Ok(Outcome::read(list::envelope("/v1/api_keys", data, has_more)))
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?))),
        Action::Roll => roll(cx, id, p).await,
        Action::Revoke => revoke(cx, id).await,
    }
}

const COLUMNS: &str = "id, kind, name, redacted, livemode, permissions, created, expires_at, revoked_at, rolled_from";

fn from_row(r: &Row) -> ApiResult<ApiKey> {
    let kind = r[1]
        .as_str()
        .and_then(KeyKind::parse)
        .ok_or_else(|| ApiError::internal("an API key of unknown kind"))?;
    let permissions = match kind {
        KeyKind::Restricted => Some(
            r[5].as_str()
                .and_then(Permissions::from_stored)
                .ok_or_else(|| ApiError::internal("a restricted key with unreadable permissions"))?
                .to_json(),
        ),
        _ => None,
    };
    Ok(ApiKey {
        id: r[0].as_str().unwrap_or_default().to_string(),
        object: "api_key",
        kind: kind.as_str(),
        name: r[2].as_str().map(str::to_string),
        redacted: r[3].as_str().unwrap_or_default().to_string(),
        livemode: r[4].as_i64() == Some(1),
        permissions,
        created: r[6].as_i64().unwrap_or(0),
        expires_at: r[7].as_i64(),
        revoked: !matches!(r[8], SqlValue::Null),
        rolled_from: r[9].as_str().map(str::to_string),
    })
}

/// The caller's environment's key `id`; 404 for any other (another account's, or the other
/// environment's), as if it did not exist.
async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<ApiKey> {
    let rows = cx
        .db
        .query(Stmt::new(
            format!("SELECT {COLUMNS} FROM api_keys WHERE id = ? AND account_id = ? AND livemode = ?"),
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    match rows.first() {
        Some(r) => from_row(r),
        None => Err(ApiError::not_found("id", "API key", id)),
    }
}

/// The `permissions` parameter as a grant (its names and levels were checked by the pipeline).
fn read_permissions(p: &Args<'_>) -> ApiResult<Permissions> {
    let levels = p
        .object("permissions")?
        .ok_or_else(|| ApiError::missing("permissions"))?;
    let mut granted = Permissions::NONE;
    for (i, g) in GROUPS.iter().enumerate() {
        if let Some(level) = levels.one_of(g.name)? {
            let level = Level::parse(&level).ok_or_else(|| ApiError::internal("an undeclared level"))?;
            granted = granted.with(i, level);
        }
    }
    Ok(granted)
}

/// A new key of `kind` in the caller's environment: its secret, its object and the INSERT.
fn new_key<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    kind: KeyKind,
    name: Option<String>,
    permissions: Option<Permissions>,
    rolled_from: Option<String>,
) -> (String, ApiKey, Stmt) {
    let secret = keys::new_key(kind, cx.acct.livemode, &mut |b| cx.env.fill_random(b));
    let key = ApiKey {
        id: cx.id("key_"),
        object: "api_key",
        kind: kind.as_str(),
        name,
        redacted: keys::redact_key(&secret),
        livemode: cx.acct.livemode,
        permissions: permissions.map(|p| p.to_json()),
        created: cx.wall,
        expires_at: None,
        revoked: false,
        rolled_from,
    };
    let insert = Stmt::new(
        "INSERT INTO api_keys (id, key_hash, account_id, livemode, kind, name, redacted, permissions, created, rolled_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &key.id,
            keys::hash_key(&secret),
            &cx.acct.id,
            cx.acct.livemode,
            kind.as_str(),
            key.name.as_deref(),
            &key.redacted,
            permissions.map(|p| p.to_stored()),
            cx.wall,
            key.rolled_from.as_deref()
        ],
    );
    (secret, key, insert)
}

/// The body of create and roll: the new key with its secret, the one time it is shown.
fn with_secret(key: &ApiKey, secret: String) -> Value {
    let mut body = to_json(key);
    body["secret"] = json!(secret);
    body
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let name = p.required_string("name")?;
    let permissions = read_permissions(p)?;
    let active = cx
        .db
        .query(Stmt::new(
            "SELECT count(*) FROM api_keys WHERE account_id = ? AND livemode = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
            sql_params![&cx.acct.id, cx.acct.livemode, cx.wall],
        ))
        .await?;
    if active.first().and_then(|r| r[0].as_i64()).unwrap_or(0) >= MAX_ACTIVE_KEYS {
        return Err(ApiError::invalid_state(
            "api_key_limit_reached",
            format!(
                "This environment has {MAX_ACTIVE_KEYS} active API keys, the most it may have; revoke unused ones first."
            ),
        ));
    }
    let (secret, key, insert) = new_key(cx, KeyKind::Restricted, Some(name), Some(permissions), None);
    Ok(Outcome::write(with_secret(&key, secret), vec![insert]))
}

/// Why `key` cannot be rolled or revoked any more, if it cannot.
fn inactive(key: &ApiKey) -> Option<ApiError> {
    let why = if key.revoked {
        "This API key is revoked.".to_string()
    } else if let Some(at) = key.expires_at {
        format!("This API key was already rolled (it stops working at {at}); roll the key that replaced it.")
    } else {
        return None;
    };
    Some(ApiError::invalid_state("api_key_inactive", why))
}

async fn roll<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let grace = p.integer("expire_previous_after")?.unwrap_or(DEFAULT_GRACE_SECS);
    let old = load(cx, id).await?;
    if let Some(e) = inactive(&old) {
        return Err(e);
    }
    let kind = KeyKind::parse(old.kind).ok_or_else(|| ApiError::internal("an API key of unknown kind"))?;
    // The replacement gets the same grant (as shown: every group with its level).
    let permissions = old
        .permissions
        .as_ref()
        .map(|v| Permissions::from_stored(&v.to_string()).ok_or_else(|| ApiError::internal("unreadable permissions")))
        .transpose()?;
    let expires_at = cx.wall + grace;
    let (secret, new, insert) = new_key(cx, kind, old.name.clone(), permissions, Some(old.id.clone()));
    // Only a key not yet rolled nor revoked is rolled; a racing roll or revoke makes the guard
    // abort this batch, and the pipeline decides again on what it committed.
    let writes = vec![
        Stmt::new(
            "UPDATE api_keys SET expires_at = ? WHERE id = ? AND account_id = ? AND livemode = ? AND expires_at IS NULL AND revoked_at IS NULL",
            sql_params![expires_at, id, &cx.acct.id, cx.acct.livemode],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
        insert,
    ];
    let mut body = with_secret(&new, secret);
    body["previous_expires_at"] = json!(expires_at);
    Ok(Outcome::write(body, writes))
}

async fn revoke<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Outcome> {
    let mut key = load(cx, id).await?;
    if key.revoked {
        // Revoking twice changes nothing.
        return Ok(Outcome::read(to_json(&key)));
    }
    if key.kind != KeyKind::Restricted.as_str() && key.expires_at.is_none() {
        // An environment must keep a working secret key: these are replaced, never just removed.
        return Err(ApiError::invalid_state(
            "api_key_not_revocable",
            format!(
                "A {} key is rolled, not revoked: POST /v1/api_keys/{id}/roll (expire_previous_after=0 ends this one at once).",
                key.kind
            ),
        ));
    }
    let writes = vec![Stmt::new(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND account_id = ? AND livemode = ? AND revoked_at IS NULL",
        sql_params![cx.wall, id, &cx.acct.id, cx.acct.livemode],
    )];
    key.revoked = true;
    Ok(Outcome::write(to_json(&key), writes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::operation::check_before_handler;
    use crate::params::Params;
    use crate::permissions::group_index;

    fn create_spec() -> &'static crate::api::operation::Spec {
        &OPS.iter().find(|o| o.action == Action::Create).unwrap().spec
    }

    fn parsed(body: &str, json: bool) -> ApiResult<Permissions> {
        let ct = if json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let p = Params::from_body(Some(ct), body.as_bytes())?;
        check_before_handler(create_spec(), &p)?;
        read_permissions(&Args::new(&p, create_spec().fields))
    }

    #[test]
    fn permissions_are_read_through_the_declaration() {
        let g = |n| group_index(n).unwrap();
        assert_eq!(
            parsed(
                "name=x&permissions[payments]=read&permissions[refunds]=write&permissions[customers]=none",
                false
            )
            .unwrap(),
            Permissions::NONE
                .with(g("payments"), Level::Read)
                .with(g("refunds"), Level::Write)
        );
        assert_eq!(
            parsed(r#"{"name": "x", "permissions": {"test_helpers": "write"}}"#, true).unwrap(),
            Permissions::NONE.with(g("test_helpers"), Level::Write)
        );
        assert_eq!(
            parsed(r#"{"name": "x", "permissions": {}}"#, true).unwrap(),
            Permissions::NONE
        );
        // Every group of the table is a parameter.
        for group in GROUPS {
            assert!(parsed(&format!("name=x&permissions[{}]=read", group.name), false).is_ok());
        }
    }

    #[test]
    fn bad_permissions_name_the_parameter() {
        let refusal = |body: &str, json: bool| {
            let e = parsed(body, json).unwrap_err();
            (e.status, e.code, e.param.unwrap_or_default())
        };
        assert_eq!(
            refusal("name=x&permissions[foo]=read", false),
            (400, "parameter_unknown", "permissions[foo]".into())
        );
        let (status, _, param) = refusal("name=x&permissions[payments]=admin", false);
        assert_eq!((status, param.as_str()), (400, "permissions[payments]"));
        let (status, _, param) = refusal(r#"{"name": "x", "permissions": {"payments": true}}"#, true);
        assert_eq!((status, param.as_str()), (400, "permissions[payments]"));
        assert_eq!(
            refusal("name=x&permissions=read", false),
            (400, "parameter_invalid_object", "permissions".into())
        );
        assert_eq!(
            refusal("name=x", false),
            (400, "parameter_missing", "permissions".into())
        );
        assert_eq!(
            refusal("permissions[payments]=read", false),
            (400, "parameter_missing", "name".into())
        );
    }

    #[test]
    fn a_key_is_inactive_once_rolled_or_revoked() {
        let key = ApiKey {
            id: "key_1".into(),
            object: "api_key",
            kind: "restricted",
            name: None,
            redacted: "rk_test_abcd…".into(),
            livemode: false,
            permissions: None,
            created: 0,
            expires_at: None,
            revoked: false,
            rolled_from: None,
        };
        assert!(inactive(&key).is_none());
        let rolled = ApiKey {
            expires_at: Some(5),
            ..key.clone()
        };
        assert_eq!(inactive(&rolled).unwrap().code, "api_key_inactive");
        let revoked = ApiKey { revoked: true, ..key };
        assert_eq!(inactive(&revoked).unwrap().code, "api_key_inactive");
    }
}
