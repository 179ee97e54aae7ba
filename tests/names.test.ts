import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseOf, compareUtf8, fsPath, isUtf8Name, joinPath, nameBytes, nameFromBytes, parentOf, showLine, showName } from "../lib/core/names.ts";
import { tempDir } from "./helpers.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

describe("names are bytes", () => {
  test("valid UTF-8 decodes as usual; every other byte becomes one escape", () => {
    expect(nameFromBytes(Buffer.from("café.mov"))).toBe("café.mov");
    expect(nameFromBytes(bytes(0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6d))).toBe("caf\udce9.m");
    // overlong "/" (C0 AF), an encoded surrogate (ED A0 80), beyond U+10FFFF (F4 90 80 80), a cut sequence
    expect(nameFromBytes(bytes(0xc0, 0xaf))).toBe("\udcc0\udcaf");
    expect(nameFromBytes(bytes(0xed, 0xa0, 0x80))).toBe("\udced\udca0\udc80");
    expect(nameFromBytes(bytes(0xf4, 0x90, 0x80, 0x80))).toBe("\udcf4\udc90\udc80\udc80");
    expect(nameFromBytes(bytes(0x61, 0xe2, 0x82))).toBe("a\udce2\udc82");
    expect(isUtf8Name("café")).toBe(true);
    expect(isUtf8Name("caf\udce9")).toBe(false);
  });

  test("every byte sequence comes back byte for byte", () => {
    let seed = 7;
    for (let n = 0; n < 2000; n++) {
      const length = (n % 40) + 1;
      const b = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[i] = n % 3 === 0 ? 0x80 + (seed >>> 25) : (seed >>> 24) & 0xff;
      }
      expect(Buffer.from(nameBytes(nameFromBytes(b))).equals(Buffer.from(b))).toBe(true);
    }
  });

  test("a lone surrogate that stands for no byte is not a name", () => {
    expect(() => nameBytes("a\ud800b")).toThrow(/lone UTF-16 surrogate/);
  });

  test("the file system sees the original bytes", () => {
    const dir = tempDir("cartkit-names-");
    const raw = Buffer.concat([Buffer.from(`${dir}/caf`), bytes(0xe9), Buffer.from(".mov")]);
    writeFileSync(raw, "x");
    const [listed] = readdirSync(dir, { encoding: "buffer" }) as unknown as Buffer[];
    const name = nameFromBytes(listed!);
    expect(name).toBe("caf\udce9.mov");
    expect(readFileSync(fsPath(joinPath(dir, name)), "utf8")).toBe("x");
    mkdirSync(join(dir, "plain"));
    expect(fsPath(join(dir, "plain"))).toBe(join(dir, "plain"));
  });

  test("order is the bytes' order (LC_ALL=C sort), escapes included", () => {
    const names = ["b", "a\udcff", "a\u00e9", "a\udce9", "a", "ab", "\u{1f600}", "z"];
    const sorted = [...names].sort(compareUtf8);
    const byBytes = [...names].sort((x, y) => Buffer.compare(nameBytes(x), nameBytes(y)));
    expect(sorted).toEqual(byBytes);
    expect(sorted).toEqual(["a", "ab", "a\u00e9", "a\udce9", "a\udcff", "b", "z", "\u{1f600}"]);
  });

  test("order is the bytes' order for any mix of ASCII, BMP, astral characters and escaped bytes", () => {
    const alphabet = ["a", "b", "\u00e9", "\uffff", "\ue000", "\u{1f600}", "\u{10000}", "\udc80", "\udcff", "/", " "];
    let seed = 7;
    const pick = () => alphabet[(seed = (seed * 1103515245 + 12345) >>> 0) % alphabet.length]!;
    const names = Array.from({ length: 400 }, (_, i) => Array.from({ length: 1 + (i % 5) }, pick).join(""));
    const sign = (n: number) => Math.sign(n);
    for (let i = 1; i < names.length; i++) {
      const [x, y] = [names[i - 1]!, names[i]!];
      expect([x, y, sign(compareUtf8(x, y))]).toEqual([x, y, sign(Buffer.compare(nameBytes(x), nameBytes(y)))]);
    }
  });

  test("people see one safe line", () => {
    expect(showName("A001C001.mov")).toBe("A001C001.mov");
    expect(showName("caf\udce9.mov")).toBe("caf\\xe9.mov");
    expect(showName("x\nINFO: forged")).toBe("x\\nINFO: forged");
    expect(showName("\u001b[2Jboom\r")).toBe("\\e[2Jboom\\r");
    expect(showName("csi\u009b31m del\u007f nul\u0000")).toBe("csi\\x9b31m del\\x7f nul\\x00");
    expect(showName("rtl\u202eevil")).toBe("rtl\\u{202e}evil");
    expect(showName("back\\slash")).toBe("back\\\\slash");
    expect(showName("emoji \u{1f3ac} ok")).toBe("emoji \u{1f3ac} ok");
    expect(showLine("a\\b\u001b")).toBe("a\\b\\e");
  });
});

describe("paths that keep every code unit", () => {
  test("join, base and parent as node:path does for plain parts", () => {
    expect(joinPath("/a", "b/c\udce9")).toBe("/a/b/c\udce9");
    expect(joinPath("/a/", "b")).toBe("/a/b");
    expect(joinPath("a", "", ".", "b")).toBe("a/b");
    expect(joinPath("a", "/abs")).toBe("/abs");
    expect(baseOf("/a/b/c\udce9.mov")).toBe("c\udce9.mov");
    expect(baseOf("/a/b/")).toBe("b");
    expect(parentOf("/a/b/c\udce9")).toBe("/a/b");
    expect(parentOf("name")).toBe(".");
    expect(parentOf("/name")).toBe("/");
  });
});

test("a name that starts with a byte order mark keeps it", () => {
  const bytes = Buffer.from("\ufeffa.mov");
  expect(nameFromBytes(bytes)).toBe("\ufeffa.mov");
  expect(Buffer.from(nameBytes(nameFromBytes(bytes))).equals(bytes)).toBe(true);
  expect(nameFromBytes(Buffer.concat([bytes, Buffer.from([0xff])]))).toBe("\ufeffa.mov\udcff");
});
