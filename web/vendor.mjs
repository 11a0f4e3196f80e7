// Copies the browser builds ccari serves from node_modules into ccari/web/static/vendor/.
// Run after `npm ci` when package-lock.json changes: `npm run vendor`; the copied files are
// committed (a fresh `./ccari.sh run` needs neither node nor the npm registry).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const out = new URL("../ccari/web/static/vendor/rrweb/", import.meta.url);
const pkg = new URL("./node_modules/rrweb/", import.meta.url);
mkdirSync(out, { recursive: true });
copyFileSync(new URL("umd/rrweb.min.js", pkg), new URL("rrweb.min.js", out));
copyFileSync(new URL("dist/style.min.css", pkg), new URL("rrweb.min.css", out));
const { version, license } = JSON.parse(readFileSync(new URL("package.json", pkg)));
writeFileSync(new URL("VERSION", out), `rrweb ${version} (${license}) from npm, umd/rrweb.min.js + dist/style.min.css\n`);
console.log(`vendored rrweb ${version}`);
