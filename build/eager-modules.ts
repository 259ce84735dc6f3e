import * as fs from 'node:fs';
import { decode, encode } from '@jridgewell/sourcemap-codec';
import * as ts from 'typescript';

/**
 * esbuild wraps every CommonJS module of a bundle in an arrow function, the factory its
 * `__commonJS` helper calls on the module's first `require`. V8 compiles a function lazily
 * unless it is a parenthesised `function` expression: the compile of handler.js pre-parses
 * every factory, and each first `require` then parses its factory again, in full. Nearly every
 * factory runs at a cold start (a module is bundled because something requires it), so the
 * second parse is pure cost: 9-11 ms of CPU at the order bundle's init, on Node 20 and 22
 * (docs/services.md). Written `(function(exports, module){…})`, a factory is compiled
 * with the script, once.
 *
 * The factories rewritten are the arguments of the `__commonJS` helper only, and only those
 * that use neither `this` nor `arguments` of their own (an arrow's are the enclosing script's,
 * a function's its own): the bundle behaves exactly as before. The source map's columns move
 * with the text.
 */

interface Edit {
  at: number;
  /** Characters removed from `at` on (the `=>`). */
  remove: number;
  insert: string;
}

/** esbuild's `__commonJS`: `(cb, mod) => () => { … (mod = { exports: {} }).exports … }`, a top-level declaration. */
function commonJsHelper(file: ts.SourceFile): string | undefined {
  for (const statement of file.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const d of statement.declarationList.declarations) {
      const init = d.initializer;
      if (ts.isIdentifier(d.name) && init && ts.isArrowFunction(init) && init.parameters.length === 2 && ts.isArrowFunction(init.body) && /\{exports:\{\}\}/.test(init.body.getText(file))) {
        return d.name.text;
      }
    }
  }
  return undefined;
}

/** Whether `body` reads `this` or `arguments` outside the functions nested in it (which have their own). */
function usesOwnThisOrArguments(body: ts.Node): boolean {
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (node.kind === ts.SyntaxKind.ThisKeyword || (ts.isIdentifier(node) && node.text === 'arguments')) {
      found = true;
      return;
    }
    if (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isAccessor(node)) return;
    ts.forEachChild(node, visit);
  };
  visit(body);
  return found;
}

function factoryEdits(code: string): Edit[] {
  const file = ts.createSourceFile('bundle.js', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const diagnostics = (file as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics;
  if (diagnostics.length > 0) throw new Error(`eager module factories: the bundle does not parse (${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, ' ')})`);
  const helper = commonJsHelper(file);
  if (!helper) return [];
  const edits: Edit[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === helper && node.arguments.length === 1) {
      const factory = node.arguments[0];
      if (ts.isArrowFunction(factory) && ts.isBlock(factory.body) && !usesOwnThisOrArguments(factory.body)) {
        const start = factory.getStart(file);
        const arrow = factory.equalsGreaterThanToken;
        // `m=>{` has no parentheses around its parameter, `(m,e)=>{` has.
        const bare = code[start] !== '(';
        edits.push({ at: start, remove: 0, insert: bare ? '(function(' : '(function' });
        if (bare) edits.push({ at: factory.parameters[0].end, remove: 0, insert: ')' });
        edits.push({ at: arrow.getStart(file), remove: 2, insert: '' }, { at: factory.end, remove: 0, insert: ')' });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return edits.sort((a, b) => a.at - b.at);
}

/**
 * Where offsets of the old text are in the new one, asked in increasing order: text inserted at
 * or before an offset pushes it on, a removal it falls in takes it to the removal's place.
 */
function shifter(edits: Edit[]): (offset: number) => number {
  let next = 0;
  let delta = 0;
  return (offset) => {
    while (next < edits.length && edits[next].at + edits[next].remove <= offset) {
      delta += edits[next].insert.length - edits[next].remove;
      next++;
    }
    const e = edits[next];
    // Inside an edit: at its start (text inserted there goes first) or in its removed characters.
    return e && e.at <= offset ? e.at + delta + e.insert.length : offset + delta;
  };
}

/** Rewrites the bundle `file` (and its `file.map`) with its module factories compiled eagerly; answers how many. */
export function eagerModuleFactories(file: string): number {
  const code = fs.readFileSync(file, 'utf8');
  const edits = factoryEdits(code);
  if (edits.length === 0) return 0;
  let out = '';
  let from = 0;
  for (const e of edits) {
    out += code.slice(from, e.at) + e.insert;
    from = e.at + e.remove;
  }
  out += code.slice(from);

  const mapFile = `${file}.map`;
  const map = JSON.parse(fs.readFileSync(mapFile, 'utf8')) as { mappings: string };
  const shift = shifter(edits);
  let lineStart = 0;
  let newLineStart = 0;
  const lines = decode(map.mappings).map((segments, line) => {
    if (line > 0) {
      const newline = code.indexOf('\n', lineStart);
      // A newline is never inside an edit: the new line starts one past it.
      newLineStart = shift(newline) + 1;
      lineStart = newline + 1;
    }
    return segments.map(([column, ...rest]) => [shift(lineStart + column) - newLineStart, ...rest] as typeof segments[number]);
  });
  map.mappings = encode(lines);
  fs.writeFileSync(file, out);
  fs.writeFileSync(mapFile, JSON.stringify(map));
  return edits.filter((e) => e.remove === 2).length;
}
