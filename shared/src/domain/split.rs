//! Payment splits (seed 004's `payment_splits[]`), pure: what an intent's connected accounts
//! are given of its capture, and the transfers that make their balances say so.
//!
//! The rule is a target, not a history: at every change of the intent, each split should have
//! been moved `amount` when the intent is captured, and should have been given back the share of
//! it that refunds (and a reversal) took from the capture, rounded down so the platform never
//! hands back more than it got. [`reconcile`] answers the movements that close the gap, so a
//! refund that later fails moves the split's share back out again, and replaying the same state
//! moves nothing. docs/platforms.md.

use crate::error::{ApiError, ApiResult};
use crate::ledger::SourceType;
use crate::objects::intents::{PaymentIntent, PaymentSplit};

/// At most this many splits per intent.
pub const MAX_SPLITS: usize = 10;

/// A split as asked for (its amount checked ≥ 1 by the declaration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitIn {
    pub account_id: String,
    pub amount: i64,
    pub description: Option<String>,
}

/// `splits` taken from `amount`: each account named once, all of them together at most
/// `amount`. `param` names the list in errors (`payment_splits`).
pub fn check(splits: &[SplitIn], amount: i64, param: &str) -> ApiResult<()> {
    for (i, s) in splits.iter().enumerate() {
        if splits[..i].iter().any(|o| o.account_id == s.account_id) {
            return Err(ApiError::invalid(
                &format!("{param}[{i}][account_id]"),
                "payment_split_duplicate",
                format!("{} is split to twice; give each account one split.", s.account_id),
            ));
        }
    }
    let total: i64 = splits.iter().map(|s| s.amount).sum();
    if total > amount {
        return Err(ApiError::invalid(
            param,
            "payment_splits_exceed_amount",
            format!("The splits add up to {total}, more than the {amount} they are taken from."),
        ));
    }
    Ok(())
}

/// New splits, nothing moved yet.
pub fn new(splits: Vec<SplitIn>) -> Vec<PaymentSplit> {
    splits
        .into_iter()
        .map(|s| PaymentSplit {
            account_id: s.account_id,
            amount: s.amount,
            description: s.description,
            amount_transferred: 0,
            amount_reversed: 0,
        })
        .collect()
}

pub fn total(splits: &[PaymentSplit]) -> i64 {
    splits.iter().map(|s| s.amount).sum()
}

/// `merchant_amount` is what the intent's own account keeps of `amount` (before fees): what the
/// splits leave. Given, it must say exactly that.
pub fn merchant_amount(amount: i64, splits: &[PaymentSplit], given: Option<i64>) -> ApiResult<i64> {
    let keeps = amount - total(splits);
    match given {
        None => Ok(keeps),
        Some(m) if m == keeps => Ok(m),
        Some(m) => Err(ApiError::invalid(
            "merchant_amount",
            "merchant_amount_mismatch",
            format!(
                "merchant_amount ({m}) must be amount ({amount}) less the payment_splits ({}): {keeps}.",
                total(splits)
            ),
        )),
    }
}

/// The splits of a partial capture of `captured` out of `authorized`: each in proportion,
/// rounded down (the remainder stays with the platform).
pub fn shrink(splits: &[PaymentSplit], authorized: i64, captured: i64) -> Vec<PaymentSplit> {
    splits
        .iter()
        .map(|s| PaymentSplit {
            amount: share(s.amount, captured, authorized),
            ..s.clone()
        })
        .collect()
}

/// `amount × num / den`, rounded down, in 128 bits; 0 when `den` is not positive.
fn share(amount: i64, num: i64, den: i64) -> i64 {
    if den <= 0 {
        return 0;
    }
    (amount as i128 * num.clamp(0, den) as i128 / den as i128) as i64
}

/// A movement between the intent's account and a connected account: `amount` is signed as the
/// connected account sees it (a transfer in is positive, a refund's share given back negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub account_id: String,
    pub kind: SourceType,
    pub amount: i64,
}

/// Brings every split to its target for an intent that has captured `captured` (0 before its
/// capture) of which `given_back` has been refunded or reversed, and answers the movements.
pub fn reconcile(splits: &mut [PaymentSplit], captured: i64, given_back: i64) -> Vec<Movement> {
    let mut out = Vec::new();
    for s in splits.iter_mut() {
        let transferred = if captured > 0 { s.amount } else { 0 };
        let reversed = share(transferred, given_back, captured);
        if transferred != s.amount_transferred {
            out.push(Movement {
                account_id: s.account_id.clone(),
                kind: SourceType::Transfer,
                amount: transferred - s.amount_transferred,
            });
            s.amount_transferred = transferred;
        }
        if reversed != s.amount_reversed {
            out.push(Movement {
                account_id: s.account_id.clone(),
                kind: SourceType::TransferRefund,
                amount: s.amount_reversed - reversed,
            });
            s.amount_reversed = reversed;
        }
    }
    out
}

/// The splits of intent `after` (as its latest attempt left it, [`crate::domain::intent::follow`])
/// coming from `before`, and the movements they make. On the first capture the splits become
/// `replace` when the capture named its own, or shrink in proportion when less than the
/// intent's amount was captured; `merchant_amount` is then what the capture leaves the intent's
/// account.
pub fn follow(before: &PaymentIntent, after: &mut PaymentIntent, replace: Option<Vec<PaymentSplit>>) -> Vec<Movement> {
    if after.amount_captured > 0 && before.amount_captured == 0 {
        if let Some(r) = replace {
            after.payment_splits = r;
        } else if after.amount_captured < after.amount {
            after.payment_splits = shrink(&after.payment_splits, after.amount, after.amount_captured);
        }
        after.merchant_amount = after.amount_captured - total(&after.payment_splits);
    }
    let given_back = after.amount_refunded.min(after.amount_captured);
    reconcile(&mut after.payment_splits, after.amount_captured, given_back)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(account: &str, amount: i64) -> SplitIn {
        SplitIn {
            account_id: account.into(),
            amount,
            description: None,
        }
    }

    #[test]
    fn splits_fit_in_the_amount_once_per_account() {
        assert!(check(&[ask("acct_a", 3000), ask("acct_b", 2000)], 5000, "payment_splits").is_ok());
        let e = check(&[ask("acct_a", 3000), ask("acct_b", 2001)], 5000, "payment_splits").unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            ("payment_splits_exceed_amount", Some("payment_splits"))
        );
        let e = check(&[ask("acct_a", 1), ask("acct_a", 1)], 5000, "payment_splits").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("payment_splits[1][account_id]"));
    }

    #[test]
    fn merchant_amount_is_what_the_splits_leave() {
        let s = new(vec![ask("acct_a", 1500)]);
        assert_eq!(merchant_amount(5000, &s, None).unwrap(), 3500);
        assert_eq!(merchant_amount(5000, &s, Some(3500)).unwrap(), 3500);
        assert_eq!(merchant_amount(5000, &[], None).unwrap(), 5000);
        let e = merchant_amount(5000, &s, Some(5000)).unwrap_err();
        assert_eq!(e.code, "merchant_amount_mismatch");
    }

    #[test]
    fn a_partial_capture_shrinks_each_split_in_proportion() {
        let s = new(vec![ask("acct_a", 3000), ask("acct_b", 1001)]);
        let half = shrink(&s, 5000, 2500);
        assert_eq!(half.iter().map(|s| s.amount).collect::<Vec<_>>(), vec![1500, 500]);
    }

    #[test]
    fn capture_refund_and_a_failed_refund_move_each_split_to_its_target() {
        let mut s = new(vec![ask("acct_a", 3000)]);
        assert!(reconcile(&mut s, 0, 0).is_empty(), "nothing before the capture");
        let m = reconcile(&mut s, 5000, 0);
        assert_eq!(
            m,
            vec![Movement {
                account_id: "acct_a".into(),
                kind: SourceType::Transfer,
                amount: 3000
            }]
        );
        assert!(reconcile(&mut s, 5000, 0).is_empty(), "the same state moves nothing");
        let m = reconcile(&mut s, 5000, 1000);
        assert_eq!(m[0].kind, SourceType::TransferRefund);
        assert_eq!(m[0].amount, -600);
        // The refund failed: its share goes back out.
        let m = reconcile(&mut s, 5000, 0);
        assert_eq!(m[0].amount, 600);
        let m = reconcile(&mut s, 5000, 5000);
        assert_eq!(m[0].amount, -3000);
        assert_eq!((s[0].amount_transferred, s[0].amount_reversed), (3000, 3000));
    }

    /// Random splits, captures and refunds: the movements always add up to what each split
    /// holds, which never exceeds its share of what is left of the capture.
    #[test]
    fn random_histories_keep_every_split_within_its_share() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as i64
        };
        for _ in 0..2_000 {
            let amount = 1 + next(100_000);
            let n = next(4) as usize;
            let mut left = amount;
            let asked: Vec<SplitIn> = (0..n)
                .map(|i| {
                    let a = 1 + next(left.max(1));
                    left = (left - a).max(0);
                    ask(&format!("acct_{i}"), a)
                })
                .collect();
            if check(&asked, amount, "payment_splits").is_err() {
                continue;
            }
            let mut s = new(asked);
            let captured = 1 + next(amount);
            s = shrink(&s, amount, captured);
            assert!(total(&s) <= captured);
            let mut held = vec![0i64; s.len()];
            let mut refunded = 0;
            for _ in 0..6 {
                // Refunds only grow, but a failed one takes a step back.
                refunded = (refunded + next(captured / 2 + 1) - next(captured / 8 + 1)).clamp(0, captured);
                for m in reconcile(&mut s, captured, refunded) {
                    let i = s.iter().position(|x| x.account_id == m.account_id).unwrap();
                    held[i] += m.amount;
                }
                for (i, x) in s.iter().enumerate() {
                    assert_eq!(held[i], x.amount_transferred - x.amount_reversed);
                    assert!(x.amount_reversed <= x.amount_transferred);
                    assert!(
                        held[i] as i128 * captured as i128
                            <= x.amount as i128 * (captured - refunded) as i128 + captured as i128
                    );
                }
            }
        }
    }
}
