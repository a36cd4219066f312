import { ConnectError, type Code } from "@connectrpc/connect";

/** The code and message of a call that must fail; throws when it succeeds. */
export async function failureOf(promise: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = ConnectError.from(error);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("expected the call to fail");
}
