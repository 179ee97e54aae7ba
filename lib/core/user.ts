/** Who runs this process, by name, without starting another process. */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";

/**
 * This process's login name: the runtime's own lookup, else its uid's line in /etc/passwd (the
 * runtime answers "unknown" where it cannot look the uid up itself); undefined where neither
 * says (a user known only to NSS, a bare container).
 * @example
 * loginName() ?? `uid${process.getuid?.()}`;
 */
export function loginName(): string | undefined {
  try {
    const name = userInfo().username;
    if (name && name !== "unknown") return name;
  } catch {
    // no name for this uid: /etc/passwd may still have one
  }
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const fields = line.split(":");
      if (fields.length >= 3 && fields[2] === String(uid) && fields[0]) return fields[0];
    }
  } catch {
    // no user database
  }
  return undefined;
}
