// The README's JavaScript examples state their results in comments (`client.acked.length; // 1`). This turns each
// such statement into a check, so the example as printed is also its own test: the program fails on a wrong claim
// and reports every claim it checked on stderr ("readme claim <line> ok").

// A comment is a claim when it starts like a value or says the statement rejects; prose comments stay comments.
const CLAIM = /^(?:\d|'|"|\{|\[|true\b|false\b|null\b|undefined\b|rejects\b)/;

/**
 * `code` with every one-line `statement; // claim` replaced by a checked statement, and the claims found
 * (`{ line, claim }`, `line` in README numbering from `firstLine`).
 */
export function withClaimsChecked(code, firstLine) {
  const claims = [];
  const lines = code.split('\n').map((text, index) => {
    const m = /^(\s*)(.+?);\s*\/\/\s*(.+)$/.exec(text);
    if (!m || !CLAIM.test(m[3])) return text;
    const [, indent, statement, claim] = m;
    const line = firstLine + index;
    claims.push({ line, claim });
    // What console.log prints is claimed: one value, or several as console.log joins them (`// 1 1 2`).
    const logged = /^console\.log\((.*)\)$/.exec(statement);
    if (logged)
      return `${indent}console.log(...(await __readmeClaimLogged(${line}, ${JSON.stringify(claim)}, async () => [${logged[1]}])));`;
    return `${indent}await __readmeClaim(${line}, ${JSON.stringify(claim)}, async () => (${statement}));`;
  });
  return { code: `${PRELUDE}\n${lines.join('\n')}\n`, claims };
}

// Prepended to the program. Loose comparison: an object claim lists some of the value's properties (`...` for
// the rest); `{ a, b, ... }` names properties that must be there; "rejects" is said of a statement that turns its
// rejection into its value with `.catch((error) => error)`, so the value must be an Error.
const PRELUDE = `
const __readmeSubset = (value, claim) => {
  if (claim === null || typeof claim !== 'object') return Object.is(value, claim);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(claim).every(([key, expected]) => __readmeSubset(value[key], expected));
};
const __readmeClaim = async (line, claim, evaluate) => {
  const value = await evaluate();
  const text = claim.replace(/,?\\s*\\.\\.\\.\\s*(?=[}\\]])/g, '');
  let ok;
  if (/^rejects\\b/.test(claim)) ok = value instanceof Error;
  else if (/^\\{\\s*[\\w$]+(\\s*,\\s*[\\w$]+)*\\s*\\}$/.test(text)) {
    ok = value !== null && typeof value === 'object' && text.slice(1, -1).split(',').every((k) => k.trim() in value);
  } else ok = __readmeSubset(value, (0, eval)('(' + text + ')'));
  if (!ok) throw new Error('README.md:' + line + ' claims ' + claim + ' but the value is ' + __readmeInspect(value));
  process.stderr.write('readme claim ' + line + ' ok\\n');
  return value;
};
const __readmeClaimLogged = async (line, claim, evaluate) => {
  const values = await evaluate();
  if (values.length === 1) return [await __readmeClaim(line, claim, async () => values[0])];
  const printed = __readmeFormat(...values);
  if (printed !== claim) throw new Error('README.md:' + line + ' claims it prints ' + claim + ' but it prints ' + printed);
  process.stderr.write('readme claim ' + line + ' ok\\n');
  return values;
};
import { format as __readmeFormat, inspect as __readmeInspect } from 'node:util';
`;
