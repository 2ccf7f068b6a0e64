//! Documentation-only types: the allowed values of string fields, so the spec carries the
//! enums the handlers check (`#[schema(value_type = …)]` / `#[param(value_type = …)]` on a
//! `String` field). Handlers keep validating the strings themselves and name the field when
//! a value is not allowed; tests compare these lists with the handlers' own.

use utoipa::ToSchema;

/// The kind of bank account.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum AccountType {
    Checking,
    Savings,
    CreditCard,
    Cash,
    Investment,
    Loan,
    Other,
}

/// `transfer` categories are left out of spending and cash flow.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CategoryKind {
    Income,
    Expense,
    Transfer,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum TransactionStatus {
    Pending,
    Booked,
}

/// Sort order of a transaction listing; `-` is descending.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum TransactionSort {
    #[schema(rename = "-date")]
    DateDesc,
    #[schema(rename = "date")]
    Date,
    #[schema(rename = "-amount")]
    AmountDesc,
    #[schema(rename = "amount")]
    Amount,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum JobState {
    Waiting,
    Delayed,
    Active,
    Completed,
    Failed,
    Dead,
    Cancelled,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum StrategyKind {
    Threshold,
    Grid,
    Arbitrage,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum TradingMode {
    Paper,
    Live,
}

/// `auto` sniffs the content (CSV cannot be sniffed: give `profile_id`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ImportFormat {
    Auto,
    Csv,
    Ofx,
    Camt053,
    Norma43,
}

/// ISO 4217, three capital letters.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    fn values<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap_or_default();
        schema["enum"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn documented_values_are_the_checked_ones() {
        assert_eq!(values::<AccountType>(), crate::finance::accounts::TYPES);
        assert_eq!(values::<CategoryKind>(), crate::finance::categories::KINDS);
        assert_eq!(values::<StrategyKind>(), actors::trading::strategy::KINDS);
        assert_eq!(values::<TransactionStatus>(), ["pending", "booked"]);
        assert_eq!(
            values::<TransactionSort>(),
            ["-date", "date", "-amount", "amount"]
        );
        assert_eq!(values::<JobState>(), crate::api::jobs::STATES);
        assert_eq!(
            values::<ImportFormat>(),
            ["auto", "csv", "ofx", "camt053", "norma43"]
        );
    }
}
