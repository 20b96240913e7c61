//! The double-entry ledger. Every movement of money is a posting whose lines sum to zero in its
//! currency; the statements that write it join the batch of the change that caused it, so money
//! and state never disagree. A movement of the merchant's balance is also a balance transaction
//! (`txn_`, the API's transaction object); settlements and paid payouts are postings only.
//!
//! Two shapes cover every transaction (docs/money.md has the table):
//! - card money (`payment`, `refund`, `refund_failure`, `dispute`, `dispute_reversal`):
//!   `cardholders −amount`, `vinr_fees +fee`, `merchant_pending +net`; settled later.
//! - bank money (`payout`, `payout_failure`): `payouts_in_transit −amount`,
//!   `merchant_available +amount`; settled at once.
//! - split money (`transfer`, `transfer_refund`), one posting on each of the two accounts:
//!   `connected_transfers −amount`, `merchant_pending +amount`, the platform's with the opposite
//!   sign of the connected account's, so `connected_transfers` sums to zero across them; settled
//!   later, as card money.

use crate::auth::Account;
use crate::port::{GUARD_ONE_SQL, SqlValue, Stmt};
use crate::sql_params;
use serde::Serialize;
use serde_json::Value;

/// The ledger's accounts (the `ledger_account` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerAccount {
    Cardholders,
    VinrFees,
    MerchantPending,
    MerchantAvailable,
    PayoutsInTransit,
    MerchantBank,
    /// The other side of a split: money moved between a platform and a connected account.
    ConnectedTransfers,
}

impl LedgerAccount {
    pub const fn as_str(self) -> &'static str {
        match self {
            LedgerAccount::Cardholders => "cardholders",
            LedgerAccount::VinrFees => "vinr_fees",
            LedgerAccount::MerchantPending => "merchant_pending",
            LedgerAccount::MerchantAvailable => "merchant_available",
            LedgerAccount::PayoutsInTransit => "payouts_in_transit",
            LedgerAccount::MerchantBank => "merchant_bank",
            LedgerAccount::ConnectedTransfers => "connected_transfers",
        }
    }
}

pub const DAY: i64 = 86_400;

/// What a balance transaction records (the `source_type` column and the API's field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    Payment,
    Refund,
    RefundFailure,
    Dispute,
    DisputeReversal,
    Payout,
    PayoutFailure,
    /// A split of a captured intent, platform to connected account.
    Transfer,
    /// A refund's share of a split, given back to the platform.
    TransferRefund,
}

impl SourceType {
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceType::Payment => "payment",
            SourceType::Refund => "refund",
            SourceType::RefundFailure => "refund_failure",
            SourceType::Dispute => "dispute",
            SourceType::DisputeReversal => "dispute_reversal",
            SourceType::Payout => "payout",
            SourceType::PayoutFailure => "payout_failure",
            SourceType::Transfer => "transfer",
            SourceType::TransferRefund => "transfer_refund",
        }
    }

    /// Bank money touches the available balance directly and is never part of a settlement.
    pub const fn is_bank(self) -> bool {
        matches!(self, SourceType::Payout | SourceType::PayoutFailure)
    }
}

/// Every source type's name (the search filter accepts these).
pub const SOURCE_TYPES: &[&str] = &[
    SourceType::Payment.as_str(),
    SourceType::Refund.as_str(),
    SourceType::RefundFailure.as_str(),
    SourceType::Dispute.as_str(),
    SourceType::DisputeReversal.as_str(),
    SourceType::Payout.as_str(),
    SourceType::PayoutFailure.as_str(),
    SourceType::Transfer.as_str(),
    SourceType::TransferRefund.as_str(),
];

/// Seed 004's source types that no transaction of ours carries: accepted as filters, which
/// then select nothing (`payment_intent` is the exception: [`SourceFilter`]).
const SEED004_SOURCE_TYPES: &[&str] = &[
    "adjustment",
    "checkout_session",
    "fee",
    "fee_refund",
    "funding",
    "payment_intent",
    "payment_method",
    "payment_refund",
    "reversal",
];

/// Every value the `source_type` filter accepts: ours, then the rest of seed 004's 16.
pub const SOURCE_TYPE_FILTERS: &[&str] = &{
    let mut all = [""; SOURCE_TYPES.len() + SEED004_SOURCE_TYPES.len()];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < SOURCE_TYPES.len() {
            SOURCE_TYPES[i]
        } else {
            SEED004_SOURCE_TYPES[i - SOURCE_TYPES.len()]
        };
        i += 1;
    }
    all
};

/// What a `source_type` filter selects.
#[derive(Debug, PartialEq, Eq)]
pub enum SourceFilter<'a> {
    /// Transactions of this source type.
    Is(&'a str),
    /// Seed 004's `payment_intent`: the `payment` transactions of payments that are attempts of
    /// a payment intent.
    IntentPayments,
    /// A seed 004 type we never produce.
    Nothing,
}

impl SourceFilter<'_> {
    pub fn of(t: &str) -> SourceFilter<'_> {
        if SOURCE_TYPES.contains(&t) {
            SourceFilter::Is(t)
        } else if t == "payment_intent" {
            SourceFilter::IntentPayments
        } else {
            SourceFilter::Nothing
        }
    }

    /// The SQL condition on `balance_transactions` and its parameter, if any.
    pub fn sql(&self) -> (&'static str, Option<&str>) {
        match self {
            SourceFilter::Is(t) => ("source_type = ?", Some(t)),
            SourceFilter::IntentPayments => (
                "source_type = 'payment' AND EXISTS (SELECT 1 FROM payments p WHERE p.id = source_id AND p.payment_intent_id IS NOT NULL)",
                None,
            ),
            SourceFilter::Nothing => ("0", None),
        }
    }
}

/// When a transaction created at `created` (account clock) is settled: the daily 00:00 UTC batch
/// of the day after next (T+1).
pub fn available_on(created: i64) -> i64 {
    (created.div_euclid(DAY) + 2) * DAY
}

/// The next 00:00 UTC strictly after `t`.
pub fn next_midnight(t: i64) -> i64 {
    (t.div_euclid(DAY) + 1) * DAY
}

/// A new balance transaction.
#[derive(Clone, Debug)]
pub struct NewTxn<'a> {
    pub id: &'a str,
    pub source_type: SourceType,
    pub source_id: &'a str,
    pub currency: &'a str,
    /// Signed effect on the merchant's balance before the fee.
    pub amount: i64,
    pub fee: i64,
    pub description: &'a str,
    pub payout_id: Option<&'a str>,
    pub created: i64,
}

impl NewTxn<'_> {
    pub fn net(&self) -> i64 {
        self.amount - self.fee
    }

    fn is_bank(&self) -> bool {
        self.source_type.is_bank()
    }

    /// The posting's lines: (ledger account, signed amount). They sum to zero.
    pub fn lines(&self) -> Vec<(LedgerAccount, i64)> {
        if self.is_bank() {
            vec![
                (LedgerAccount::PayoutsInTransit, -self.amount),
                (LedgerAccount::MerchantAvailable, self.amount),
            ]
        } else if matches!(self.source_type, SourceType::Transfer | SourceType::TransferRefund) {
            vec![
                (LedgerAccount::ConnectedTransfers, -self.amount),
                (LedgerAccount::MerchantPending, self.net()),
            ]
        } else {
            let mut l = vec![
                (LedgerAccount::Cardholders, -self.amount),
                (LedgerAccount::MerchantPending, self.net()),
            ];
            if self.fee != 0 {
                l.push((LedgerAccount::VinrFees, self.fee));
            }
            l
        }
    }
}

/// The statements that record `t` for `acct`: the transaction, its ledger lines and the balance
/// change. (When it is settled is the settlement's business: [`crate::domain::settlement`].) A payout's debit of the available
/// balance is guarded (`available >= amount`), so the batch aborts as a conflict when another
/// payout took the money first.
pub fn record_txn(acct: &Account, t: &NewTxn) -> Vec<Stmt> {
    debug_assert!(
        t.lines().iter().map(|l| l.1).sum::<i64>() == 0,
        "unbalanced posting {t:?}"
    );
    let bank = t.is_bank();
    let (settlement_status, settled_at, avail_on) = if bank {
        ("settled", Some(t.created), t.created)
    } else {
        ("unsettled", None, available_on(t.created))
    };
    let mut out = vec![Stmt::new(
        "INSERT INTO balance_transactions (id, account_id, livemode, currency, amount, fee, net, source_type, source_id, description, available_on, settlement_status, settled_at, payout_id, created, updated) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            t.id,
            &acct.id,
            acct.livemode,
            t.currency,
            t.amount,
            t.fee,
            t.net(),
            t.source_type.as_str(),
            t.source_id,
            t.description,
            avail_on,
            settlement_status,
            settled_at,
            t.payout_id,
            t.created,
            t.created
        ],
    )];
    out.push(lines_stmt(acct, t.id, t.currency, &t.lines(), t.created));
    if bank && t.amount < 0 {
        out.push(Stmt::new(
            "UPDATE balances SET available = available + ? WHERE account_id = ? AND livemode = ? AND currency = ? AND available >= ?",
            sql_params![t.amount, &acct.id, acct.livemode, t.currency, -t.amount],
        ));
        out.push(Stmt::new(GUARD_ONE_SQL, vec![]));
    } else {
        let (pending, available) = if bank { (0, t.amount) } else { (t.net(), 0) };
        out.push(balance_change(acct, t.currency, pending, available));
    }
    out
}

/// A posting that is not a balance transaction (a settlement moving pending to available, a
/// payout reaching the bank).
pub fn record_transfer(
    acct: &Account,
    posting_id: &str,
    currency: &str,
    lines: &[(LedgerAccount, i64)],
    now: i64,
) -> Vec<Stmt> {
    debug_assert!(
        lines.iter().map(|l| l.1).sum::<i64>() == 0,
        "unbalanced transfer {posting_id}"
    );
    let sum = |name| lines.iter().filter(|l| l.0 == name).map(|l| l.1).sum::<i64>();
    vec![
        lines_stmt(acct, posting_id, currency, lines, now),
        balance_change(
            acct,
            currency,
            sum(LedgerAccount::MerchantPending),
            sum(LedgerAccount::MerchantAvailable),
        ),
    ]
}

fn lines_stmt(acct: &Account, posting_id: &str, currency: &str, lines: &[(LedgerAccount, i64)], now: i64) -> Stmt {
    let mut sql = String::from(
        "INSERT INTO ledger_entries (account_id, livemode, posting_id, ledger_account, currency, amount, created) VALUES ",
    );
    let mut params = Vec::with_capacity(lines.len() * 7);
    for (i, (name, amount)) in lines.iter().enumerate() {
        sql.push_str(if i == 0 {
            "(?, ?, ?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?, ?, ?)"
        });
        params.extend(sql_params![
            &acct.id,
            acct.livemode,
            posting_id,
            name.as_str(),
            currency,
            *amount,
            now
        ]);
    }
    Stmt::new(sql, params)
}

fn balance_change(acct: &Account, currency: &str, pending: i64, available: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO balances (account_id, livemode, currency, pending, available) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (account_id, livemode, currency) DO UPDATE SET pending = pending + excluded.pending, available = available + excluded.available",
        sql_params![&acct.id, acct.livemode, currency, pending, available],
    )
}

/// The columns [`txn_json`] reads, in order.
pub const TXN_COLUMNS: &str = "id, amount, fee, net, currency, source_type, source_id, description, available_on, settlement_id, settlement_status, settled_at, payout_id, created, updated";

/// A movement of a merchant balance (the API's `transaction` object).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Transaction {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^txn_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "transaction")))]
    pub object: &'static str,
    /// Signed effect on the balance before the fee.
    pub amount: i64,
    pub fee: i64,
    /// amount - fee.
    pub net: i64,
    pub currency: String,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = SOURCE_TYPES)))]
    pub source_type: String,
    pub source_id: String,
    // Always written (`NewTxn::description`): null only in a row written otherwise.
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["pending", "available"])))]
    pub status: &'static str,
    pub available_on: i64,
    pub settlement_id: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["unsettled", "settled"])))]
    pub settlement_status: String,
    pub settled_at: Option<i64>,
    pub payout_id: Option<String>,
    pub created: i64,
    pub updated: i64,
}

impl Transaction {
    /// A stored row, selected with [`TXN_COLUMNS`] (whose columns but `description`,
    /// `settlement_id`, `settled_at` and `payout_id` are NOT NULL).
    pub fn from_row(r: &[SqlValue]) -> Transaction {
        let text = |i: usize| r[i].as_str().map(str::to_string);
        let int = |i: usize| r[i].as_i64();
        let settled = r[10].as_str() == Some("settled");
        Transaction {
            id: text(0).unwrap_or_default(),
            object: "transaction",
            amount: int(1).unwrap_or_default(),
            fee: int(2).unwrap_or_default(),
            net: int(3).unwrap_or_default(),
            currency: text(4).unwrap_or_default(),
            source_type: text(5).unwrap_or_default(),
            source_id: text(6).unwrap_or_default(),
            description: text(7),
            status: if settled { "available" } else { "pending" },
            available_on: int(8).unwrap_or_default(),
            settlement_id: text(9),
            settlement_status: text(10).unwrap_or_default(),
            settled_at: int(11),
            payout_id: text(12),
            created: int(13).unwrap_or_default(),
            updated: int(14).unwrap_or_default(),
        }
    }
}

/// A stored transaction row (selected with [`TXN_COLUMNS`]) as the API returns it.
pub fn txn_json(r: &[SqlValue]) -> Value {
    serde_json::to_value(Transaction::from_row(r)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed004_source_type_is_a_filter() {
        let seed = [
            "adjustment",
            "checkout_session",
            "dispute",
            "fee",
            "fee_refund",
            "funding",
            "payment",
            "payment_intent",
            "payment_method",
            "payment_refund",
            "payout",
            "refund",
            "refund_failure",
            "transfer",
            "transfer_refund",
            "reversal",
        ];
        for t in seed {
            assert!(SOURCE_TYPE_FILTERS.contains(&t), "{t}");
        }
        for t in SOURCE_TYPES {
            assert!(SOURCE_TYPE_FILTERS.contains(t), "{t}");
            assert_eq!(SourceFilter::of(t), SourceFilter::Is(t));
        }
        assert_eq!(SOURCE_TYPE_FILTERS.len(), 18);
        assert_eq!(SourceFilter::of("payment_intent"), SourceFilter::IntentPayments);
        assert_eq!(SourceFilter::of("fee").sql(), ("0", None));
    }

    /// The object as `json!` built it before [`Transaction`]: every field, nulls included.
    #[test]
    fn transaction_json() {
        use serde_json::json;
        let t = |s: &str| SqlValue::Text(s.into());
        let row = [
            t("txn_1"),
            SqlValue::Int(5000),
            SqlValue::Int(175),
            SqlValue::Int(4825),
            t("EUR"),
            t("payment"),
            t("pay_1"),
            SqlValue::Null,
            SqlValue::Int(86_400),
            SqlValue::Null,
            t("unsettled"),
            SqlValue::Null,
            SqlValue::Null,
            SqlValue::Int(1),
            SqlValue::Int(2),
        ];
        assert_eq!(
            txn_json(&row),
            json!({
                "id": "txn_1", "object": "transaction", "amount": 5000, "fee": 175, "net": 4825, "currency": "EUR",
                "source_type": "payment", "source_id": "pay_1", "description": null, "status": "pending",
                "available_on": 86_400, "settlement_id": null, "settlement_status": "unsettled", "settled_at": null,
                "payout_id": null, "created": 1, "updated": 2,
            })
        );
    }

    fn txn(source_type: SourceType, amount: i64, fee: i64) -> NewTxn<'static> {
        NewTxn {
            id: "txn_1",
            source_type,
            source_id: "x",
            currency: "EUR",
            amount,
            fee,
            description: "",
            payout_id: None,
            created: 0,
        }
    }

    #[test]
    fn every_shape_balances() {
        for t in [
            txn(SourceType::Payment, 5000, 175),
            txn(SourceType::Refund, -2000, 0),
            txn(SourceType::RefundFailure, 2000, 0),
            txn(SourceType::Dispute, -5000, 1500),
            txn(SourceType::DisputeReversal, 5000, 0),
            txn(SourceType::Payout, -700, 0),
            txn(SourceType::PayoutFailure, 700, 0),
            txn(SourceType::Transfer, -1500, 0),
            txn(SourceType::TransferRefund, 300, 0),
        ] {
            assert_eq!(t.lines().iter().map(|l| l.1).sum::<i64>(), 0, "{t:?}");
        }
        let d = txn(SourceType::Dispute, -5000, 1500);
        assert_eq!(d.net(), -6500);
        assert!(d.lines().contains(&(LedgerAccount::MerchantPending, -6500)));
    }

    #[test]
    fn settlement_dates() {
        // 2026-11-21 10:00 UTC -> 2026-11-23 00:00 UTC.
        let t = 1_763_719_200;
        assert_eq!(available_on(t), (t / DAY + 2) * DAY);
        assert_eq!(available_on(t) % DAY, 0);
        assert_eq!(next_midnight((t / DAY) * DAY), (t / DAY + 1) * DAY);
    }
}
