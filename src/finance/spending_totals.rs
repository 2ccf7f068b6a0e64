//! Spending per category over a whole range (the monthly spending report summed over its
//! months), with category names: what the spending chart and the chat's `/report` show.

use super::categories;
use super::money::from_e4;
use super::reports::{self, Range};
use crate::db::{Db, DbError};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The name shown for transactions without a category.
pub const UNCATEGORIZED: &str = "Uncategorized";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySpend {
    pub category_id: Option<String>,
    pub name: String,
    pub currency: String,
    /// Money out, as a positive decimal (exact: summed in SQL as integers).
    pub spent: Decimal,
    pub count: i64,
}

/// One row per (category, currency), largest first. Transfers are left out, as in the report.
#[tracing::instrument(skip_all)]
pub async fn by_category(db: &Db, r: &Range) -> Result<Vec<CategorySpend>, DbError> {
    let names: BTreeMap<String, String> = categories::list(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut sums: BTreeMap<(Option<String>, String), (i64, i64)> = BTreeMap::new();
    for (_, category_id, currency, sum, count) in reports::spending(db, r).await? {
        let e = sums.entry((category_id, currency)).or_default();
        e.0 += sum;
        e.1 += count;
    }
    let mut rows: Vec<CategorySpend> = sums
        .into_iter()
        .map(|((category_id, currency), (sum, count))| CategorySpend {
            name: category_id
                .as_ref()
                .and_then(|id| names.get(id).cloned())
                .unwrap_or_else(|| UNCATEGORIZED.to_owned()),
            category_id,
            currency,
            spent: -from_e4(sum),
            count,
        })
        .collect();
    rows.sort_by(|a, b| b.spent.cmp(&a.spent).then_with(|| a.name.cmp(&b.name)));
    Ok(rows)
}
