// ESLint flat config for the extension: plain ES modules, no bundler.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/"] },
  js.configs.recommended,
  {
    // The event page and the extension's pages run in Firefox with `browser.*`.
    files: ["background.js", "popup/**/*.js", "options/**/*.js", "status/**/*.js", "blocked/**/*.js", "sites/**/*.js"],
    languageOptions: {
      globals: { ...globals.browser, ...globals.webextensions },
    },
  },
  {
    // src/ runs in Firefox but stays free of `browser.*` (it is tested under
    // node --test), so it gets the web globals only: `browser`/`chrome` here is an error.
    files: ["src/**/*.js"],
    languageOptions: {
      globals: { ...globals.browser },
    },
  },
  {
    // Unit tests, benchmarks and this file run in Node.
    files: ["test/**/*.mjs", "bench/**/*.mjs", "eslint.config.js"],
    languageOptions: {
      globals: { ...globals.node },
    },
  },
];
