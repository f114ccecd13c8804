// Bundle web/src into src/territorium/web/static (served by the app at /).
import * as esbuild from "esbuild";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const out = new URL("../src/territorium/web/static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: ["src/main.js"], bundle: true, minify: process.env.DEBUG ? false : true, sourcemap: true, format: "iife",
  target: ["chrome110", "firefox110"], outfile: out + "app.js", logLevel: "warning",
});
const css = readFileSync("node_modules/maplibre-gl/dist/maplibre-gl.css", "utf8") + "\n" + readFileSync("src/style.css", "utf8");
writeFileSync(out + "app.css", css);
cpSync("src/index.html", out + "index.html");
cpSync("src/favicon.svg", out + "favicon.svg");
console.log("built", out);
