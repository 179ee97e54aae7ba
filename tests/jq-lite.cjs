// The two jq filters tests/e2e.test.ts uses, for machines without jq: reads JSON lines on stdin
// and prints, raw, either `.files` of the summary event or `.reel` of every line.
const filter = process.argv[2] ?? "";
const lines = require("node:fs")
  .readFileSync(0, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l));
for (const v of lines) {
  if (filter.includes("summary")) {
    if (v.event === "summary") console.log(v.files);
  } else if (filter === ".reel") console.log(v.reel);
  else throw new Error(`jq-lite: unsupported filter ${filter}`);
}
