# cartkit recipes; the same as the npm scripts in package.json.
bun := "node_modules/.bin/bun"

# Install dependencies exactly as locked.
setup:
    npm ci

# Compile every tool into dist/.
build:
    {{bun}} scripts/build.ts

# Build, then run every test (unit, interop with the native tools, compiled binaries).
test: build
    {{bun}} test

# Benchmarks against the native tools; writes the table for BENCHMARKS.md.
bench *ARGS:
    {{bun}} bench/hash.ts {{ARGS}}

# The main job on built-in sample data.
demo:
    {{bun}} scripts/demo.ts

# Type-check everything.
check:
    node_modules/.bin/tsc -p .
