// Running notebook cells as a REPL does: TypeScript compiled to JavaScript, top-level declarations
// kept for later cells (they become globals of the kernel), imports turned into dynamic imports so
// that `import { openRun } from "sase"` works in any cell, and the last expression's value returned
// for display. TypeScript's own parser (a dependency of the checkout) finds the top-level statements.
import type ts from "typescript";

// Loaded on the first cell only: the library itself (`import ... from "sase"`) never needs it.
let typescript: typeof ts | undefined;

/** Compiles one cell into the body of an async function returning its last expression's value. */
export async function compileCell(source: string): Promise<string> {
  typescript ??= (await import("typescript")).default;
  const ts = typescript;
  const js = ts.transpileModule(source, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      // Imports stay even when this cell does not use them: later cells may.
      verbatimModuleSyntax: true,
    },
    reportDiagnostics: false,
  }).outputText;
  const file = ts.createSourceFile("cell.js", js, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const hoisted: string[] = [];
  const body: string[] = [];
  const statements = file.statements.filter((s) => !ts.isEmptyStatement(s));
  statements.forEach((s, i) => {
    const last = i === statements.length - 1;
    const text = s.getText(file);
    if (ts.isExportDeclaration(s) || ts.isExportAssignment(s)) return;
    if (ts.isImportDeclaration(s)) {
      const from = `(await __sase_import(${s.moduleSpecifier.getText(file)}))`;
      const clause = s.importClause;
      if (!clause) body.push(`${from};`);
      else {
        if (clause.name) body.push(`${clause.name.text} = ${from}.default;`);
        const nb = clause.namedBindings;
        if (nb && ts.isNamespaceImport(nb)) body.push(`${nb.name.text} = ${from};`);
        else if (nb && ts.isNamedImports(nb) && nb.elements.length > 0) {
          const names = nb.elements.map((e) =>
            e.propertyName ? `${e.propertyName.getText(file)}: ${e.name.text}` : e.name.text,
          );
          body.push(`({ ${names.join(", ")} } = ${from});`);
        }
      }
    } else if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) {
        body.push(
          `(${d.name.getText(file)} = ${d.initializer ? d.initializer.getText(file) : "undefined"});`,
        );
      }
    } else if (ts.isFunctionDeclaration(s) && s.name) {
      hoisted.push(`${s.name.text} = ${text.replace(/^export\s+(default\s+)?/, "")};`);
    } else if (ts.isClassDeclaration(s) && s.name) {
      body.push(`${s.name.text} = ${text.replace(/^export\s+(default\s+)?/, "")};`);
    } else if (last && ts.isExpressionStatement(s)) {
      body.push(`return (${s.expression.getText(file)});`);
    } else body.push(text);
  });
  return [...hoisted, ...body].join("\n");
}

// biome-ignore lint/complexity/useArrowFunction: the constructor of async functions is what is wanted
const AsyncFunction = async function () {}.constructor as new (
  ...args: string[]
) => (...args: unknown[]) => Promise<unknown>;

/** Runs a compiled cell; `importer` resolves its imports. Returns the last expression's value. */
export async function runCell(
  source: string,
  importer: (specifier: string) => Promise<unknown>,
): Promise<unknown> {
  const fn = new AsyncFunction("__sase_import", await compileCell(source));
  return fn(importer);
}
