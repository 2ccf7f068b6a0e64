// Compile-time guards on the contract: money is a decimal string wherever it appears. If the
// spec ever rendered one of these as a number, `npm run typecheck` fails on this file.
import type { Account, Order, Pnl, PositionDto, Transaction, TransactionInput } from "../schema";

/** `true` only when T (without null/undefined) is exactly `string`. */
type DecimalString<T> = [Exclude<T, null | undefined>] extends [string]
  ? [string] extends [Exclude<T, null | undefined>]
    ? true
    : false
  : false;

export const moneyIsString: true[] = [
  true as DecimalString<Transaction["amount"]>,
  true as DecimalString<TransactionInput["amount"]>,
  true as DecimalString<Account["balance"]>,
  true as DecimalString<Account["opening_balance"]>,
  true as DecimalString<Order["limit_price"]>,
  true as DecimalString<Order["fees"]>,
  true as DecimalString<Pnl["realised"]>,
  true as DecimalString<PositionDto["avg_price"]>,
];
