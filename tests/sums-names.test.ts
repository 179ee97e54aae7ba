/**
 * Both summing tools on hostile trees and manifests, from source and compiled: names that are
 * not UTF-8 found by -r (written with \xHH escapes and read back), links and special files met
 * by a walk (--links, --special), a manifest that tries to reach out of --root through a link,
 * names that would forge terminal lines, and a check file read as it streams in.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, constants, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runners, tempDir, tool, untilSignalsCaught } from "./helpers.ts";

const TOOLS = [
  { name: "b3sum-ts", args: [] as string[] },
  { name: "xxsum", args: ["-H2"] },
];

/** A path with raw bytes, for node:fs. */
const bytesPath = (...parts: Array<string | Buffer>) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
const LATIN1_CAFE = Buffer.from("caf\xe9.mov", "latin1");

for (const runner of runners()) {
  for (const t of TOOLS) {
    describe(`${t.name}: names, links and special files (${runner.label})`, () => {
      const root = tempDir("cartkit-names-");
      const sum = (args: string[], stdin?: string | Uint8Array) => tool(runner, t.name, [...t.args, ...args], { cwd: root, stdin });
      /** The digest of some bytes, as this tool prints it. */
      const digest = (data: string) => {
        writeFileSync(join(root, "probe"), data);
        return sum(["probe"]).stdout.split(" ")[0]!;
      };

      test("-r writes a name that is not UTF-8 with \\xHH escapes, and -c reads it back, with --root and --jobs 2", { timeout: 60_000 }, () => {
        const card = join(root, "card");
        mkdirSync(join(card, "sub"), { recursive: true });
        writeFileSync(bytesPath(`${card}/`, LATIN1_CAFE), "latin-1 name");
        writeFileSync(join(card, "back\\slash"), "b");
        writeFileSync(join(card, "sub", "plain.mov"), "p");
        const manifest = sum(["-r", "card"]);
        expect(manifest.code).toBe(0);
        expect(manifest.stderr).toBe("");
        const backslash = t.name === "b3sum-ts" ? `\\${digest("b")}  back\\\\slash` : `${digest("b")}  back\\slash`;
        expect(manifest.stdout).toBe(`${backslash}\n\\${digest("latin-1 name")}  caf\\xe9.mov\n${digest("p")}  sub/plain.mov\n`);
        expect(sum(["-r", "--jobs", "2", "card"]).stdout).toBe(manifest.stdout);
        const copy = join(root, "copy");
        // cp, not cpSync: Bun's cpSync cannot copy a name that is not UTF-8.
        expect(Bun.spawnSync(["cp", "-a", card, copy]).exitCode).toBe(0);
        const display = t.name === "b3sum-ts" ? "\\back\\\\slash" : "back\\slash";
        for (const jobs of ["1", "2"]) {
          expect(sum(["-c", "--jobs", jobs, "--root", "copy", "-"], manifest.stdout)).toMatchObject({ code: 0, stdout: `${display}: OK\n\\caf\\xe9.mov: OK\nsub/plain.mov: OK\n` });
        }
        // The escape names exactly those bytes: a copy that lost the byte fails.
        writeFileSync(bytesPath(`${copy}/`, LATIN1_CAFE), "changed");
        expect(sum(["-c", "--root", "copy", "-"], manifest.stdout).stdout).toContain("\\caf\\xe9.mov: FAILED\n");
      });

      test("--files-from takes names as bytes and writes them escaped", { timeout: 60_000 }, () => {
        const list = join(root, "list");
        mkdirSync(list, { recursive: true });
        writeFileSync(bytesPath(`${list}/`, LATIN1_CAFE), "listed");
        writeFileSync(join(root, "names.txt"), bytesPath("list/", LATIN1_CAFE, "\n"));
        const result = sum(["--files-from", "names.txt"]);
        expect(result).toMatchObject({ code: 0, stdout: `\\${digest("listed")}  list/caf\\xe9.mov\n` });
        expect(sum(["-c", "-"], result.stdout)).toMatchObject({ code: 0, stdout: "\\list/caf\\xe9.mov: OK\n" });
      });

      test("an escape that is not the one spelling of a name is refused: UTF-8 written as \\x, ASCII as \\x, a lone \\x", { timeout: 60_000 }, () => {
        const zeros = t.name === "b3sum-ts" ? "0".repeat(64) : "0".repeat(32);
        for (const name of ["caf\\xc3\\xa9", "\\x41", "a\\x", "a\\xZZ"]) {
          const result = sum(["-c", "-"], `\\${zeros}  ${name}\n`);
          expect({ name, code: result.code, stdout: result.stdout }).toEqual({ name, code: 1, stdout: "" });
          expect(result.stderr).toBe(t.name === "b3sum-ts" ? "b3sum-ts: -:1: Invalid backslash escape\n" : "stdin: no properly formatted xxHash checksum lines found\n");
        }
      });

      test("--links follow (the default): a link to a file inside is hashed as that file; one out of the tree, or dangling, is a named failure", { timeout: 60_000 }, () => {
        const tree = join(root, "links");
        mkdirSync(join(tree, "clips"), { recursive: true });
        writeFileSync(join(tree, "clips", "a.mov"), "clip");
        symlinkSync("clips/a.mov", join(tree, "inside"));
        const inside = sum(["-r", "links"]);
        expect(inside).toMatchObject({ code: 0, stderr: "", stdout: `${digest("clip")}  clips/a.mov\n${digest("clip")}  inside\n` });
        symlinkSync("/etc/hostname", join(tree, "out"));
        symlinkSync("nowhere", join(tree, "dangling"));
        const bad = sum(["-r", "links"]);
        expect(bad.code).toBe(1);
        expect(bad.stdout).toBe(inside.stdout);
        expect(bad.stderr).toBe(`${t.name}: links/dangling: dangling symbolic link\n${t.name}: links/out: symbolic link that leaves the tree, not followed\n`);
        const skipped = sum(["-r", "--links", "skip", "links"]);
        expect(skipped).toMatchObject({ code: 0, stdout: `${digest("clip")}  clips/a.mov\n` });
        expect(skipped.stderr.split("\n").filter(Boolean).sort()).toEqual(["dangling", "inside", "out"].map((n) => `${t.name}: links/${n}: symbolic link, left out (--links skip)`));
        expect(sum(["-r", "--links", "copy", "links"])).toMatchObject({ code: 2, stdout: "", stderr: `${t.name}: invalid value 'copy' for --links; use one of: follow, skip\n` });
      });

      test("--special fail (the default): a FIFO is a named failure; --special skip leaves it out with a note", { timeout: 60_000 }, () => {
        const tree = join(root, "special");
        mkdirSync(tree, { recursive: true });
        writeFileSync(join(tree, "file"), "f");
        expect(Bun.spawnSync(["mkfifo", join(tree, "pipe")]).exitCode).toBe(0);
        const failed = sum(["-r", "special"]);
        expect(failed).toMatchObject({ code: 1, stdout: `${digest("f")}  file\n`, stderr: `${t.name}: special/pipe: a FIFO (named pipe), not a regular file: it cannot be copied or hashed\n` });
        expect(sum(["-r", "--special", "skip", "special"])).toMatchObject({ code: 0, stdout: `${digest("f")}  file\n`, stderr: `${t.name}: special/pipe: a FIFO (named pipe), left out (--special skip)\n` });
      });

      test("-c --root never follows a link out of the root: 'link -> /etc/shadow' with shadow's digest fails; links inside pass", { timeout: 60_000 }, () => {
        const copy = join(root, "rooted");
        mkdirSync(join(copy, "sub"), { recursive: true });
        writeFileSync(join(copy, "real.mov"), "real");
        symlinkSync("/etc/shadow", join(copy, "link"));
        symlinkSync("/etc", join(copy, "etc"));
        symlinkSync("../real.mov", join(copy, "sub", "up"));
        symlinkSync(join(copy, "real.mov"), join(copy, "absolute-inside"));
        const shadow = sum(["/etc/shadow"]).stdout.split(" ")[0]!;
        expect(shadow).toMatch(/^[0-9a-f]+$/);
        const manifest = [`${shadow}  link`, `${shadow}  etc/shadow`, `${digest("real")}  sub/up`, `${digest("real")}  absolute-inside`].join("\n");
        const result = sum(["-c", "--root", "rooted", "-"], `${manifest}\n`);
        expect(result.code).toBe(1);
        expect(result.stdout).not.toMatch(/^(link|etc\/shadow): OK$/m);
        const lines = result.stdout.split("\n");
        if (t.name === "b3sum-ts") {
          expect(lines.slice(0, 4)).toEqual([`link: FAILED (a symbolic link on the way leaves rooted; not followed (os error 18))`, "etc/shadow: FAILED (a symbolic link on the way leaves rooted; not followed (os error 18))", "sub/up: OK", "absolute-inside: OK"]);
        } else {
          expect(lines.slice(0, 4)).toEqual(["-:1: Could not open or read 'link': a symbolic link on the way leaves rooted; not followed.".replace("-:", "stdin:"), "stdin:2: Could not open or read 'etc/shadow': a symbolic link on the way leaves rooted; not followed.", "sub/up: OK", "absolute-inside: OK"]);
        }
      });

      test("names that would forge a terminal line are escaped on stderr; stdout keeps the anchor's bytes", { timeout: 60_000 }, () => {
        const tree = join(root, "forge");
        mkdirSync(tree, { recursive: true });
        writeFileSync(join(tree, "ok"), "o");
        symlinkSync("/etc/hostname", join(tree, "x\nINFO: fake\u001b[31m"));
        const walked = sum(["-r", "forge"]);
        expect(walked.code).toBe(1);
        expect(walked.stderr).toBe(`${t.name}: forge/x\\nINFO: fake\\e[31m: symbolic link that leaves the tree, not followed\n`);
        const missing = sum(["gone\r\u009b2J"]);
        expect(missing.stderr).toStartWith(`${t.name}: gone\\r\\x9b2J: No such file or directory`);
        // In check mode, the verdict line is the anchor's: the name as written in the line.
        writeFileSync(join(root, "car\rret"), "c");
        const checked = sum(["-c", "-"], `${digest("c")}  car\rret\n`);
        expect(checked).toMatchObject({ code: 0, stdout: "car\rret: OK\n" });
      });

      test("a check file is checked as it streams in: line 1's verdict is out before the input ends", { timeout: 60_000 }, async () => {
        // Only a checker that reads its input line by line, and lets out what it has checked
        // before it waits for more, prints line 1's verdict while the rest is still to come.
        writeFileSync(join(root, "first.txt"), "first");
        writeFileSync(join(root, "stream.txt"), "streamed");
        const proc = Bun.spawn([...runner.command(t.name), ...t.args, "-c", "-"], { cwd: root, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
        proc.stdin.write(`${digest("first")}  first.txt\n`);
        proc.stdin.flush();
        const reader = proc.stdout.getReader();
        let seen = "";
        const deadline = Date.now() + 30_000;
        while (!seen.includes("\n") && Date.now() < deadline) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += new TextDecoder().decode(value);
        }
        expect(seen).toBe("first.txt: OK\n");
        proc.stdin.write(`${digest("streamed")}  stream.txt\n`);
        proc.stdin.end();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += new TextDecoder().decode(value);
        }
        expect(seen).toBe("first.txt: OK\nstream.txt: OK\n");
        expect(await proc.exited).toBe(0);
      });

      test("a regular file under another process's lease (a file server's) is waited for and read, as the anchors do: -c, -c --root, -r", { timeout: 90_000 }, async () => {
        const tree = join(root, "leased");
        mkdirSync(tree, { recursive: true });
        writeFileSync(join(tree, "clip.mov"), "leased");
        const expected = digest("leased");
        /** Runs the tool while another process holds a write lease on the file. */
        const underLease = async (args: string[], stdin?: string) => {
          const holder = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "lease_holder.ts"), join(tree, "clip.mov")], { stdout: "pipe", stderr: "pipe" });
          try {
            const first = await holder.stdout.getReader().read();
            expect(new TextDecoder().decode(first.value)).toBe("ready\n");
            const result = tool(runner, t.name, [...t.args, ...args], { cwd: root, timeoutMs: 50_000, ...(stdin === undefined ? {} : { stdin }) });
            return { code: result.code, stdout: result.stdout, stderr: result.stderr };
          } finally {
            holder.kill(9);
            await holder.exited;
          }
        };
        expect(await underLease(["-c", "-"], `${expected}  leased/clip.mov\n`)).toEqual({ code: 0, stdout: "leased/clip.mov: OK\n", stderr: "" });
        expect(await underLease(["-c", "--root", "leased", "-"], `${expected}  clip.mov\n`)).toEqual({ code: 0, stdout: "clip.mov: OK\n", stderr: "" });
        expect(await underLease(["-r", "leased"])).toEqual({ code: 0, stdout: `${expected}  clip.mov\n`, stderr: "" });
      });

      test("a reader that goes away early (| head) ends the run with 141, never 0: -r, and -c whose later lines were not checked", { timeout: 120_000 }, () => {
        const many = join(root, "many");
        mkdirSync(many, { recursive: true });
        for (let i = 0; i < 4000; i++) writeFileSync(join(many, `frame_${String(i).padStart(6, "0")}.dng`), String(i));
        const status = (pipeline: string) =>
          Bun.spawnSync(["bash", "-c", `${pipeline}; echo "\${PIPESTATUS[0]}"`], { cwd: root, env: { ...process.env, NO_COLOR: "1" } })
            .stdout.toString()
            .trim()
            .split("\n")
            .at(-1);
        const command = [...runner.command(t.name), ...t.args].map((part) => `'${part}'`).join(" ");
        // 4,000 lines: more than a pipe holds, so writes go on after head has gone.
        expect(status(`${command} -r many | head -c 100 > /dev/null`)).toBe("141");
        const sums = tool(runner, t.name, [...t.args, "-r", "many"], { cwd: root }).stdout;
        const wrong = "0".repeat(sums.indexOf(" "));
        writeFileSync(join(root, "many.sums"), `${wrong}  many/frame_000000.dng\n${sums.replaceAll("  frame_", "  many/frame_")}${wrong}  many/frame_003999.dng\n`);
        expect(status(`${command} -c many.sums | head -c 100 > /dev/null`)).toBe("141");
      });

      test("SIGTERM while a tree of small files is hashed stops the run at once (exit 143), not after the last file; also with --jobs 2", { timeout: 120_000 }, async () => {
        const tree = join(root, "frames");
        mkdirSync(tree, { recursive: true });
        for (let i = 0; i < 5000; i++) writeFileSync(join(tree, `f${String(i).padStart(5, "0")}.dng`), String(i));
        for (const jobs of [[], ["--jobs", "2"]]) {
          // 12 × 5,000 files: seconds of hashing, with nothing to wait on between two files.
          const proc = Bun.spawn([...runner.command(t.name), ...t.args, ...jobs, "-r", ...Array.from({ length: 12 }, () => "frames")], { cwd: root, stdout: "pipe", stderr: "pipe" });
          const reader = proc.stdout.getReader();
          let lines = 0;
          const first = await reader.read();
          lines += new TextDecoder().decode(first.value).split("\n").length - 1;
          proc.kill("SIGTERM");
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            lines += new TextDecoder().decode(value).split("\n").length - 1;
          }
          expect(await proc.exited).toBe(143);
          expect(await new Response(proc.stderr).text()).toBe(`${t.name}: interrupted (SIGTERM)\n`);
          expect(lines).toBeLessThan(60_000);
        }
      });

      test("SIGTERM while one endless input is read (a link to /dev/zero named, 1 TiB of holes on stdin) stops the run at once (exit 143)", { timeout: 120_000 }, async () => {
        symlinkSync("/dev/zero", join(root, "zeros"));
        writeFileSync(join(root, "probe"), "after the endless input");
        const holes = join(root, "holes.img");
        expect(Bun.spawnSync(["truncate", "-s", "1T", holes]).exitCode).toBe(0);
        const cases: Array<{ args: string[]; stdin?: string }> = [{ args: ["zeros"] }, { args: ["--jobs", "1", "zeros"] }, { args: ["--jobs", "2", "zeros"] }, { args: ["zeros", "probe"] }, { args: ["-"], stdin: holes }];
        for (const c of cases) {
          const proc = Bun.spawn([...runner.command(t.name), ...t.args, ...c.args], { cwd: root, stdin: c.stdin === undefined ? "ignore" : Bun.file(c.stdin), stdout: "pipe", stderr: "pipe" });
          // Reading by then (the binary starts in well under a second); either input takes minutes to end, if ever.
          await Bun.sleep(1500);
          proc.kill("SIGTERM");
          const deaf = setTimeout(() => proc.kill("SIGKILL"), 20_000);
          const code = await proc.exited;
          clearTimeout(deaf);
          expect({ args: c.args, code, stderr: await new Response(proc.stderr).text(), stdout: await new Response(proc.stdout).text() }).toEqual({ args: c.args, code: 143, stderr: `${t.name}: interrupted (SIGTERM)\n`, stdout: "" });
        }
      });

      test("SIGTERM or Ctrl-C while waiting on input that never comes (a FIFO with no writer or a silent one, a silent pipe on stdin, --files-from a FIFO) ends the run within seconds; lines of files done before are on stdout", { timeout: 120_000 }, async () => {
        const fifo = join(root, "silent.fifo");
        expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
        writeFileSync(join(root, "before.txt"), "done before the wait");
        const before = tool(runner, t.name, [...t.args, "before.txt"], { cwd: root }).stdout;
        expect(before).toEndWith("  before.txt\n");
        const cases: Array<{ args: string[]; signal: "SIGTERM" | "SIGINT"; writer?: boolean; pipe?: boolean; stdout: string }> = [
          { args: ["silent.fifo"], signal: "SIGTERM", stdout: "" },
          { args: ["before.txt", "silent.fifo"], signal: "SIGINT", stdout: before },
          { args: ["--jobs", "1", "before.txt", "silent.fifo"], signal: "SIGTERM", writer: true, stdout: before },
          // A hashing thread waits here; the signal's handler lets out the line it holds.
          { args: ["--jobs", "2", "before.txt", "silent.fifo"], signal: "SIGINT", stdout: before },
          { args: ["before.txt", "-"], signal: "SIGINT", pipe: true, stdout: before },
          { args: ["--files-from", "silent.fifo"], signal: "SIGTERM", stdout: "" },
        ];
        const seen: unknown[] = [];
        for (const c of cases) {
          // A writer that holds the FIFO open and never writes; a pipe whose writer never writes.
          const writer = c.writer ? openSync(fifo, constants.O_RDWR) : undefined;
          const silent = c.pipe ? Bun.spawn(["sleep", "60"], { stdout: "pipe" }) : undefined;
          const proc = Bun.spawn([...runner.command(t.name), ...t.args, ...c.args], { cwd: root, stdin: silent ? silent.stdout : "ignore", stdout: "pipe", stderr: "pipe" });
          // Waiting by then: the handlers are set, and the file before the wait takes milliseconds.
          await untilSignalsCaught(proc.pid, 1000);
          const sent = performance.now();
          proc.kill(c.signal);
          const deaf = setTimeout(() => proc.kill("SIGKILL"), 20_000);
          const code = await proc.exited;
          const seconds = (performance.now() - sent) / 1000;
          clearTimeout(deaf);
          silent?.kill();
          if (writer !== undefined) closeSync(writer);
          seen.push({ args: c.args, code, ended: seconds < 10, stderr: await new Response(proc.stderr).text(), stdout: await new Response(proc.stdout).text() });
        }
        expect(seen).toEqual(cases.map((c) => ({ args: c.args, code: c.signal === "SIGTERM" ? 143 : 130, ended: true, stderr: `${t.name}: interrupted (${c.signal})\n`, stdout: c.stdout })));
      });

      test("Ctrl-C after stdout's reader went away (a pipeline the same Ctrl-C stopped): exit 130, said; not 141", { timeout: 60_000 }, async () => {
        writeFileSync(join(root, "first.txt"), "first");
        const holes = join(root, "endless.img");
        expect(Bun.spawnSync(["truncate", "-s", "1T", holes]).exitCode).toBe(0);
        const proc = Bun.spawn([...runner.command(t.name), ...t.args, "first.txt", "endless.img"], { cwd: root, stdout: "pipe", stderr: "pipe" });
        await untilSignalsCaught(proc.pid, 1000);
        // The reader is gone; the line of first.txt is still held, to be let out when the tool ends.
        await proc.stdout.cancel();
        proc.kill("SIGINT");
        const deaf = setTimeout(() => proc.kill("SIGKILL"), 20_000);
        const code = await proc.exited;
        clearTimeout(deaf);
        expect({ code, stderr: await new Response(proc.stderr).text() }).toEqual({ code: 130, stderr: `${t.name}: interrupted (SIGINT)\n` });
      });

      test("Ctrl-C on `cat /dev/zero | TOOL` (both get SIGINT) prints no digest of the cut-off input: exit 130", { timeout: 120_000 }, async () => {
        for (let round = 0; round < 3; round++) {
          const cat = Bun.spawn(["cat", "/dev/zero"], { stdout: "pipe", stderr: "ignore" });
          const proc = Bun.spawn([...runner.command(t.name), ...t.args], { cwd: root, stdin: cat.stdout, stdout: "pipe", stderr: "pipe" });
          await untilSignalsCaught(proc.pid, 1000);
          // As a terminal sends it to the pipeline's process group: the writer ends with it.
          process.kill(cat.pid, "SIGINT");
          process.kill(proc.pid, "SIGINT");
          const deaf = setTimeout(() => proc.kill("SIGKILL"), 20_000);
          const code = await proc.exited;
          clearTimeout(deaf);
          expect({ round, code, stdout: await new Response(proc.stdout).text(), stderr: await new Response(proc.stderr).text() }).toEqual({ round, code: 130, stdout: "", stderr: `${t.name}: interrupted (SIGINT)\n` });
        }
      });

      test("-c: a FIFO or device a check file names is a named failure, not a wait for a writer", { timeout: 60_000 }, () => {
        const fifo = join(root, "waiting.fifo");
        expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
        writeFileSync(join(root, "plain.txt"), "plain");
        // Without --root a link is followed, as the anchors follow it: here to a device.
        symlinkSync("/dev/zero", join(root, "endless"));
        const zero = digest("");
        const result = tool(runner, t.name, [...t.args, "-c", "-"], { cwd: root, stdin: `${zero}  waiting.fifo\n${zero}  endless\n${digest("plain")}  plain.txt\n`, timeoutMs: 20_000 });
        expect(result.code).toBe(1);
        const refused = "not a regular file (a FIFO, socket or device), not read";
        if (t.name === "b3sum-ts") {
          expect(result.stdout).toBe(`waiting.fifo: FAILED (${refused})\nendless: FAILED (${refused})\nplain.txt: OK\n`);
        } else {
          expect(result.stdout).toBe(`stdin:1: Could not open or read 'waiting.fifo': ${refused}.\nstdin:2: Could not open or read 'endless': ${refused}.\nplain.txt: OK\n2 listed files could not be read\n`);
        }
      });
    });
  }
}
