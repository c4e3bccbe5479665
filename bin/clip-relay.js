#!/usr/bin/env node
// The CLI is TypeScript run by Node's type stripping: Node 24 (the project pins it) is needed.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`clip-relay: needs Node 24 (this is ${process.version}); run it through npx or npm scripts, which use the pinned node\n`);
  process.exit(1);
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
