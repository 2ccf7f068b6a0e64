//! Reports, summed exactly in SQL over `amount_e4` (BIGINT ten-thousandths). Amounts stay in
//! each transaction's currency: rows are grouped by currency, never converted. Transactions in
//! `transfer` categories are left out of spending and cash flow (they are not income or cost).

use crate::db::{Db, DbError, Sql};

#[derive(Debug, Clone, Default)]
pub struct Range {
    pub from: Option<String>,
    pub to: Option<String>,
    pub account_id: Option<String>,
}

impl Range {
    fn apply<'a>(&'a self, sql: &mut Sql<'a>) {
        if let Some(f) = &self.from {
            let p = sql.arg(f);
            sql.push(&format!(" AND t.booked_date >= {p}"));
        }
        if let Some(t) = &self.to {
            let p = sql.arg(t);
            sql.push(&format!(" AND t.booked_date <= {p}"));
        }
        if let Some(a) = &self.account_id {
            let p = sql.arg(a);
            sql.push(&format!(" AND t.account_id = {p}"));
        }
    }
}

const NOT_TRANSFER: &str = " AND t.status = 'booked' AND (c.kind IS NULL OR c.kind <> 'transfer')";

/// (month `YYYY-MM`, category id, currency, spent as a negative sum, count).
pub async fn spending(
    db: &Db,
    r: &Range,
) -> Result<Vec<(String, Option<String>, String, i64, i64)>, DbError> {
    let mut sql = Sql::new(
        "SELECT SUBSTR(t.booked_date, 1, 7) AS month, t.category_id, t.currency, CAST(SUM(t.amount_e4) AS BIGINT), COUNT(*) \
         FROM fin_transactions t LEFT JOIN fin_categories c ON c.id = t.category_id WHERE t.amount_e4 < 0",
    );
    sql.push(NOT_TRANSFER);
    r.apply(&mut sql);
    sql.push(" GROUP BY SUBSTR(t.booked_date, 1, 7), t.category_id, t.currency ORDER BY 1, 2, 3");
    db.fetch_all(sql).await
}

/// (month, currency, income, expense (negative), count).
pub async fn cashflow(db: &Db, r: &Range) -> Result<Vec<(String, String, i64, i64, i64)>, DbError> {
    let mut sql = Sql::new(
        "SELECT SUBSTR(t.booked_date, 1, 7) AS month, t.currency, \
         CAST(SUM(CASE WHEN t.amount_e4 > 0 THEN t.amount_e4 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN t.amount_e4 < 0 THEN t.amount_e4 ELSE 0 END) AS BIGINT), COUNT(*) \
         FROM fin_transactions t LEFT JOIN fin_categories c ON c.id = t.category_id WHERE 1 = 1",
    );
    sql.push(NOT_TRANSFER);
    r.apply(&mut sql);
    sql.push(" GROUP BY SUBSTR(t.booked_date, 1, 7), t.currency ORDER BY 1, 2");
    db.fetch_all(sql).await
}

/// Booked movement per month of one account: (month, sum), plus the sum before `from`.
pub async fn monthly_movement(
    db: &Db,
    account_id: &str,
    r: &Range,
) -> Result<(i64, Vec<(String, i64)>), DbError> {
    let mut before = 0;
    if let Some(from) = &r.from {
        let sql = Sql::new(
            "SELECT CAST(SUM(amount_e4) AS BIGINT) FROM fin_transactions \
             WHERE account_id = $1 AND status = 'booked' AND booked_date < $2",
        );
        let b: Option<i64> = db.fetch_scalar(sql.bind(account_id).bind(from)).await?;
        before = b.unwrap_or(0);
    }
    let mut sql = Sql::new(
        "SELECT SUBSTR(t.booked_date, 1, 7) AS month, CAST(SUM(t.amount_e4) AS BIGINT) FROM fin_transactions t \
         WHERE t.status = 'booked'",
    );
    let scoped = Range {
        account_id: Some(account_id.to_owned()),
        ..r.clone()
    };
    scoped.apply(&mut sql);
    sql.push(" GROUP BY SUBSTR(t.booked_date, 1, 7) ORDER BY 1");
    let rows = db.fetch_all(sql).await?;
    Ok((before, rows))
}

/// (who — counterparty, else description —, currency, count, spent (negative)), most spent first.
pub async fn top_counterparties(
    db: &Db,
    r: &Range,
    limit: i64,
) -> Result<Vec<(String, String, i64, i64)>, DbError> {
    let mut sql = Sql::new(
        "SELECT COALESCE(t.counterparty, t.description) AS who, t.currency, COUNT(*), CAST(SUM(t.amount_e4) AS BIGINT) \
         FROM fin_transactions t LEFT JOIN fin_categories c ON c.id = t.category_id WHERE t.amount_e4 < 0",
    );
    sql.push(NOT_TRANSFER);
    r.apply(&mut sql);
    let p = sql.arg(limit);
    sql.push(&format!(
        " GROUP BY COALESCE(t.counterparty, t.description), t.currency ORDER BY 4 ASC, 1 ASC LIMIT {p}"
    ));
    db.fetch_all(sql).await
}
