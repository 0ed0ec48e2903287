// Module resolution hook for user code (context files, notebook cells) that lives outside this
// checkout: `import ... from "sase"` resolves to this checkout's library, wherever the file is.
const SASE = new URL("../index.ts", import.meta.url).href;

export async function resolve(specifier, context, next) {
  // Passed on down the chain, so that tsx (registered before us) resolves and then loads the .ts.
  if (specifier === "sase") return next(SASE, context);
  return next(specifier, context);
}
