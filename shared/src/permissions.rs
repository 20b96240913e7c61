//! What a restricted key (`rk_test_...` / `rk_live_...`) may do: per resource group `none`,
//! `read` or `write` (write implies read). [`GROUPS`] is the one table of groups: the pipeline's
//! check ([`check`], right after authentication), the `permissions` parameter of
//! `POST /v1/api_keys` (its declaration is built from it), the OpenAPI document and the table in
//! docs/api.md (a test keeps that one equal to [`markdown_table`]) all read it.
//!
//! An operation's group is the first segment of its path; GET reads, every other method writes,
//! except the POSTs listed as `post_reads` (searches that take a body). Paths outside every group
//! (`/v1/api_keys`) are for secret keys only.

use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// A resource group: what a restricted key is granted by name.
#[derive(Clone, Copy, Debug)]
pub struct ResourceGroup {
    pub name: &'static str,
    /// The first segments of its operations' paths (after `/v1/`).
    pub paths: &'static [&'static str],
    /// Operations (declaration paths) that only read although they are POSTs.
    pub post_reads: &'static [&'static str],
    pub doc: &'static str,
}

const fn group(name: &'static str, paths: &'static [&'static str], doc: &'static str) -> ResourceGroup {
    ResourceGroup {
        name,
        paths,
        post_reads: &[],
        doc,
    }
}

/// Every resource group, in the order documents list them.
pub const GROUPS: &[ResourceGroup] = &[
    group(
        "payments",
        &["payments", "charges"],
        "Payments (create, capture, confirm, cancel, adjust, reverse) and their charges.",
    ),
    group("customers", &["customers"], "Customers."),
    group(
        "payment_methods",
        &["payment_methods"],
        "Payment methods, attaching and detaching them.",
    ),
    group("refunds", &["refunds"], "Refunds."),
    group("disputes", &["disputes"], "Disputes, their evidence and closing them."),
    group(
        "webhooks",
        &["webhooks"],
        "Webhook endpoints, their signing secrets, deliveries and resends.",
    ),
    group("events", &["events"], "Events (read only)."),
    ResourceGroup {
        post_reads: &["transactions/search", "transactions/download"],
        ..group(
            "balance",
            &["balance", "transactions", "processing_plan", "partners"],
            "The balance, its transactions (search and CSV download are reads) and the processing plan (also by partner).",
        )
    },
    group("settlements", &["settlements"], "Settlements and their transactions."),
    group(
        "payouts",
        &["payouts", "business"],
        "Payouts, the payout schedule and a business's payouts.",
    ),
    group(
        "terminals",
        &["terminals", "terminal"],
        "Terminals and their Cloud API payments.",
    ),
    group("test_helpers", &["test_helpers"], "The sandbox clock."),
    group(
        "billing",
        &[
            "products",
            "prices",
            "invoices",
            "subscriptions",
            "billing",
            "usage_records",
            "subscription_items",
        ],
        "Billing: products, prices, invoices, subscriptions, usage and the billing settings.",
    ),
    group(
        "loyalty",
        &["loyalty"],
        "Engagement: the loyalty program, accounts, points transactions, rewards and redemptions.",
    ),
    ResourceGroup {
        post_reads: &["payment_intents/search"],
        ..group(
            "payment_intents",
            &["payment_intents"],
            "Seed 004's payment intents, their attempts, captures and refunds (search is a read).",
        )
    },
    group(
        "accounts",
        &["accounts"],
        "A platform's connected accounts (creating them, listing them).",
    ),
];

const N: usize = GROUPS.len();

/// What a key may do with one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Read,
    Write,
}

/// The levels as the API spells them.
pub const LEVELS: &[&str] = &["none", "read", "write"];

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        [Level::None, Level::Read, Level::Write]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// The index in [`GROUPS`] of the group called `name`.
pub fn group_index(name: &str) -> Option<usize> {
    GROUPS.iter().position(|g| g.name == name)
}

/// A restricted key's grant: one level per group of [`GROUPS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permissions([Level; N]);

impl Permissions {
    /// Nothing granted.
    pub const NONE: Permissions = Permissions([Level::None; N]);

    /// `self` with `group` at `level`.
    pub fn with(mut self, group: usize, level: Level) -> Permissions {
        self.0[group] = level;
        self
    }

    pub fn level(&self, group: usize) -> Level {
        self.0[group]
    }

    /// As stored (the `permissions` column): a JSON object of the groups granted anything.
    pub fn to_stored(&self) -> String {
        let granted: Map<String, Value> = GROUPS
            .iter()
            .zip(self.0)
            .filter(|(_, l)| *l != Level::None)
            .map(|(g, l)| (g.name.to_string(), Value::from(l.as_str())))
            .collect();
        Value::Object(granted).to_string()
    }

    /// The stored form back. A group no longer in the table grants nothing; an unreadable
    /// value is None (the caller fails closed).
    pub fn from_stored(stored: &str) -> Option<Permissions> {
        let Value::Object(o) = serde_json::from_str(stored).ok()? else {
            return None;
        };
        let mut p = Permissions::NONE;
        for (name, level) in o {
            let level = Level::parse(level.as_str()?)?;
            if let Some(i) = group_index(&name) {
                p.0[i] = level;
            }
        }
        Some(p)
    }

    /// As the API shows it: every group with its level.
    pub fn to_json(&self) -> Value {
        Value::Object(
            GROUPS
                .iter()
                .zip(self.0)
                .map(|(g, l)| (g.name.to_string(), Value::from(l.as_str())))
                .collect(),
        )
    }
}

/// What an operation needs: a level of a group, or a secret key (`group` None).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub group: Option<usize>,
    pub level: Level,
}

/// What the operation `method` `path` (its declaration's path, e.g. `payments/:id/capture`)
/// needs of a restricted key.
pub fn need(method: &str, path: &str) -> Need {
    let first = path.split('/').next().unwrap_or("");
    let Some(i) = GROUPS.iter().position(|g| g.paths.contains(&first)) else {
        return Need {
            group: None,
            level: Level::Write,
        };
    };
    let reads = method == "GET" || (method == "POST" && GROUPS[i].post_reads.contains(&path));
    Need {
        group: Some(i),
        level: if reads { Level::Read } else { Level::Write },
    }
}

/// The pipeline's check, right after authentication: `granted` is the key's grant (None for a
/// secret key, which may do everything). A restricted key outside its grant: 403.
pub fn check(granted: Option<&Permissions>, method: &str, path: &str) -> ApiResult<()> {
    let Some(granted) = granted else {
        return Ok(());
    };
    let need = need(method, path);
    let Some(group) = need.group else {
        return Err(ApiError::new(
            403,
            "permission_error",
            "secret_key_required",
            format!("Restricted keys cannot call {method} /v1/{path}; use a secret key (sk_...)."),
        ));
    };
    let has = granted.level(group);
    if has >= need.level {
        return Ok(());
    }
    let name = GROUPS[group].name;
    Err(ApiError::new(
        403,
        "permission_error",
        "permission_denied",
        format!(
            "This restricted key needs `{name}: {}` for {method} /v1/{path}; it has `{name}: {}`.",
            need.level.as_str(),
            has.as_str()
        ),
    ))
}

/// The groups as docs/api.md shows them (a test keeps the file equal to this).
pub fn markdown_table() -> String {
    let mut s = String::from("| group | paths (`/v1/...`) | covers |\n|---|---|---|\n");
    for g in GROUPS {
        let paths: Vec<String> = g.paths.iter().map(|p| format!("`{p}`")).collect();
        s.push_str(&format!("| `{}` | {} | {} |\n", g.name, paths.join(", "), g.doc));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Group;

    fn idx(name: &str) -> usize {
        group_index(name).unwrap()
    }

    #[test]
    fn get_reads_and_other_methods_write() {
        let payments = Some(idx("payments"));
        assert_eq!(
            need("GET", "charges/:id"),
            Need {
                group: payments,
                level: Level::Read
            }
        );
        assert_eq!(need("POST", "payments/:id/capture").level, Level::Write);
        assert_eq!(need("DELETE", "customers/:id").level, Level::Write);
        // A search with a body only reads.
        assert_eq!(
            need("POST", "transactions/search"),
            Need {
                group: Some(idx("balance")),
                level: Level::Read
            }
        );
        assert_eq!(
            need("POST", "payment_intents/search"),
            Need {
                group: Some(idx("payment_intents")),
                level: Level::Read
            }
        );
        assert_eq!(need("POST", "payment_intents/:id").level, Level::Write);
        assert_eq!(need("POST", "terminal/payments").group, Some(idx("terminals")));
        assert_eq!(need("GET", "api_keys").group, None);
    }

    #[test]
    fn write_implies_read_and_ungranted_groups_are_none() {
        let p = Permissions::NONE
            .with(idx("payments"), Level::Read)
            .with(idx("refunds"), Level::Write);
        assert!(check(Some(&p), "GET", "payments/:id").is_ok());
        assert!(check(Some(&p), "POST", "refunds").is_ok());
        assert!(check(Some(&p), "GET", "refunds/:id").is_ok());
        let e = check(Some(&p), "POST", "payments").unwrap_err();
        assert_eq!(
            (e.status, e.kind, e.code),
            (403, "permission_error", "permission_denied")
        );
        assert!(
            e.message.contains("`payments: write`") && e.message.contains("`payments: read`"),
            "{}",
            e.message
        );
        let e = check(Some(&p), "GET", "customers").unwrap_err();
        assert!(e.message.contains("`customers: read`"), "{}", e.message);
        // Key management is for secret keys only, whatever the grant.
        let all = GROUPS
            .iter()
            .enumerate()
            .fold(Permissions::NONE, |p, (i, _)| p.with(i, Level::Write));
        let e = check(Some(&all), "GET", "api_keys").unwrap_err();
        assert_eq!((e.status, e.code), (403, "secret_key_required"));
        // A secret key may do everything.
        assert!(check(None, "POST", "api_keys").is_ok());
        assert!(check(None, "POST", "payments").is_ok());
    }

    #[test]
    fn stored_form_round_trips_and_fails_closed() {
        let p = Permissions::NONE
            .with(idx("payments"), Level::Read)
            .with(idx("webhooks"), Level::Write);
        let stored = p.to_stored();
        assert_eq!(stored, r#"{"payments":"read","webhooks":"write"}"#);
        assert_eq!(Permissions::from_stored(&stored), Some(p));
        assert_eq!(Permissions::from_stored("{}"), Some(Permissions::NONE));
        // A group since removed from the table grants nothing; a bad level is unreadable.
        assert_eq!(
            Permissions::from_stored(r#"{"payments":"read","gone":"write"}"#),
            Some(Permissions::NONE.with(idx("payments"), Level::Read))
        );
        assert_eq!(Permissions::from_stored(r#"{"payments":"admin"}"#), None);
        assert_eq!(Permissions::from_stored("[]"), None);
        assert_eq!(p.to_json()["customers"], "none");
        assert_eq!(p.to_json().as_object().unwrap().len(), GROUPS.len());
    }

    /// Every operation of every route group belongs to a resource group, except key management;
    /// every listed read-only POST is a declared POST of its group.
    #[test]
    fn the_table_covers_every_declared_operation() {
        let specs: Vec<_> = Group::ALL.iter().flat_map(|g| g.specs()).collect();
        for s in &specs {
            let first = s.path.split('/').next().unwrap();
            assert_eq!(
                need(s.method, s.path).group.is_none(),
                first == "api_keys",
                "{} {}: no resource group",
                s.method,
                s.path
            );
        }
        for g in GROUPS {
            for p in g.post_reads {
                assert!(
                    specs.iter().any(|s| s.method == "POST" && s.path == *p),
                    "{p}: not a declared POST"
                );
                assert!(
                    g.paths.contains(&p.split('/').next().unwrap()),
                    "{p}: not in {}",
                    g.name
                );
            }
        }
        let mut names: Vec<_> = GROUPS.iter().map(|g| g.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), GROUPS.len(), "a group named twice");
    }

    #[test]
    fn docs_show_the_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/api.md must contain the resource groups exactly as permissions::markdown_table() makes them:\n{table}"
        );
    }
}
