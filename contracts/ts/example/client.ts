// A tiny typed client for ai-service: every path, body and response below is checked by tsc
// against ../schema.d.ts (generated from openapi/openapi.json). Run `npm run typecheck`.
import createClient, { type Middleware } from "openapi-fetch";
import type { Category, ErrorCode, Problem, Transaction, paths } from "../schema";

/** A failed call: the server's RFC 9457 problem, with its stable `code` to branch on. */
export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
  }
  get code(): ErrorCode {
    return this.problem.code;
  }
}

/** Non-2xx answers are problem+json; anything else (a proxy's HTML page) is still reported. */
function toProblem(error: unknown, response: Response): ApiProblem {
  if (typeof error === "object" && error !== null && "code" in error) {
    return new ApiProblem(error as Problem);
  }
  return new ApiProblem({
    type: "about:blank",
    title: response.statusText,
    status: response.status,
    detail: typeof error === "string" ? error.slice(0, 200) : "no problem details",
    code: "internal",
  });
}

export function connect(baseUrl: string) {
  const client = createClient<paths>({ baseUrl });
  let accessToken: string | undefined;
  const auth: Middleware = {
    onRequest({ request }) {
      if (accessToken) request.headers.set("Authorization", `Bearer ${accessToken}`);
      return request;
    },
  };
  client.use(auth);

  return {
    async login(username: string, password: string): Promise<void> {
      const { data, error, response } = await client.POST("/v1/auth/login", {
        body: { username, password },
      });
      if (error !== undefined) throw toProblem(error, response);
      accessToken = data.access_token;
    },

    async categories(): Promise<Category[]> {
      const { data, error, response } = await client.GET("/v1/financial/categories");
      if (error !== undefined) throw toProblem(error, response);
      return data;
    },

    /** `amount` is a decimal string ("-42.10"): money never travels as a float. */
    async addTransaction(
      accountId: string,
      amount: string,
      description: string,
      categoryId?: string,
    ): Promise<Transaction> {
      const { data, error, response } = await client.POST("/v1/financial/transactions", {
        body: {
          account_id: accountId,
          amount,
          booked_date: new Date().toISOString().slice(0, 10),
          description,
          category_id: categoryId ?? null,
        },
      });
      if (error !== undefined) throw toProblem(error, response);
      return data;
    },
  };
}

/** Log in, list categories, book a cash expense, and show how a refused input reads. */
export async function demo(baseUrl: string, username: string, password: string, accountId: string) {
  const api = connect(baseUrl);
  await api.login(username, password);
  const categories = await api.categories();
  const groceries = categories.find((c) => c.name === "Groceries");
  const tx = await api.addTransaction(accountId, "-42.10", "MERCADONA VALENCIA", groceries?.id);
  console.log(`booked ${tx.amount} ${tx.currency} (${tx.id})`);
  try {
    await api.addTransaction(accountId, "forty-two", "not a number");
  } catch (e) {
    if (!(e instanceof ApiProblem) || e.code !== "validation_failed") throw e;
    // errors[].field names the input to fix: "amount".
    for (const f of e.problem.errors ?? []) console.log(`${f.field}: ${f.message}`);
  }
}
