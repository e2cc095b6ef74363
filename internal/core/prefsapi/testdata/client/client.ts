// A client of the preferences API built only from its OpenAPI document:
// schema.d.ts is generated from the running service's /openapi.json by
// openapi-typescript, and this file must type-check against it (tsc
// --strict) before it runs. The Go test TestGeneratedClientCallsTheService
// reads what it prints.
import createClient from "openapi-fetch";
import type { operations, paths } from "./schema.js";

// Named by operationId: a renamed or removed operation breaks the build.
type Prefs = operations["getPreferences"]["responses"][200]["content"]["application/json"];
type ModeBody = operations["setMode"]["requestBody"]["content"]["application/json"];

// Node's globals, declared here rather than pulling in @types/node.
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const base = process.env.HUSH_PREFS_URL!;
const token = process.env.HUSH_TOKEN!;
const customer = process.env.HUSH_CUSTOMER!;

const client = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
const path = { customer };

async function main(): Promise<void> {
  const body: ModeBody = { mode: "essential_only" };
  const set = await client.PUT("/v1/customers/{customer}/mode", { params: { path }, body });
  if (set.error || set.response.status !== 200) {
    throw new Error(`setMode: ${set.response.status} ${JSON.stringify(set.error)}`);
  }
  const patched = await client.PATCH("/v1/customers/{customer}/preferences", {
    params: { path },
    body: { optedOutChannels: ["sms"], timeZone: "Europe/Paris" },
  });
  if (patched.error) {
    throw new Error(`updatePreferences: ${patched.response.status} ${JSON.stringify(patched.error)}`);
  }
  const got = await client.GET("/v1/customers/{customer}/preferences", { params: { path } });
  if (got.error) {
    throw new Error(`getPreferences: ${got.response.status} ${JSON.stringify(got.error)}`);
  }
  const prefs: Prefs = got.data;
  // A bad value answers 400 with the field at fault, typed as Error.
  const bad = await client.PUT("/v1/customers/{customer}/mode", { params: { path }, body: { mode: "loud" as ModeBody["mode"] } });
  const health = await client.GET("/healthz", { parseAs: "text" });
  console.log(JSON.stringify({
    mode: prefs.mode,
    optedOutChannels: prefs.optedOutChannels,
    timeZone: prefs.timeZone,
    etag: got.response.headers.get("ETag"),
    badStatus: bad.response.status,
    badField: bad.error?.field,
    health: health.data,
  }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
