// The README's fenced blocks, as the README test runs them: each with its language, its first line's number and the
// `<!-- readme: ... -->` note right above it (the only way the README tells the test how to run a block).

/**
 * Every fenced block of `markdown`, in order: `{ lang, code, line, note }`. `line` is the 1-based line of the opening
 * fence; `note` is the text of a `<!-- readme: ... -->` comment on the last non-blank line before it, or ''.
 * Fences may be indented (a block inside a list item); the indent is removed from the code.
 */
export function readmeBlocks(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]); j++) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    if (j === lines.length) throw new Error(`README.md:${i + 1}: a fence that is never closed`);
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === '') k--;
    const note = k >= 0 ? (/^\s*<!--\s*readme:\s*(.*?)\s*-->\s*$/.exec(lines[k])?.[1] ?? '') : '';
    blocks.push({ lang: lang || 'text', code: body.join('\n'), line: i + 1, note });
    i = j;
  }
  return blocks;
}

/**
 * The commands of a shell block, one per entry: comment lines dropped, `\` continuations joined. Each entry keeps
 * its README line number. Trailing `# ...` comments stay: the shell drops them itself.
 */
export function shellCommands(block) {
  const commands = [];
  let pending = null;
  block.code.split('\n').forEach((text, index) => {
    const line = block.line + 1 + index;
    if (pending === null && (text.trim() === '' || text.trim().startsWith('#'))) return;
    if (pending === null) pending = { text: '', line };
    if (text.endsWith('\\')) {
      pending.text += text.slice(0, -1);
      return;
    }
    pending.text += text;
    commands.push(pending);
    pending = null;
  });
  if (pending) commands.push(pending);
  return commands;
}

/** The comment lines after a shell block's last command: what the README says that block prints. */
export function shownOutput(block) {
  const lines = block.code.split('\n');
  const shown = [];
  for (let i = lines.length - 1; i >= 0 && lines[i].trim().startsWith('#'); i--)
    shown.unshift(lines[i].trim().replace(/^#\s?/, ''));
  return shown;
}

/**
 * Where a JavaScript block goes, relative to the repository: the note's `runs as PATH`, or the file name the block
 * gives itself in its first line (`// processor.js`, `// main.js, at ...`, `// test/conformance.test.js: ...`).
 */
export function moduleName(block) {
  const name =
    /\bruns as ([\w./-]+\.m?js)\b/.exec(block.note)?.[1] ?? /^\/\/\s*([\w./-]+\.m?js)\b/.exec(block.code)?.[1];
  if (name && (name.startsWith('/') || name.split('/').includes('..')))
    throw new Error(`README.md:${block.line}: ${name} is outside the repository`);
  return name;
}

/**
 * A line of output the README shows, as a pattern: measurements (a number followed by `s` or `msg/s`) may be any
 * number, everything else must be there as written.
 */
export function looseLine(text) {
  const escaped = text.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(escaped.replace(/\d[\d,]*(?:\\\.\d+)?( s\b| msg\/s)/g, '[\\d,]+(?:\\.\\d+)?$1'));
}

/** The quoted strings of a note's `prints "..."` parts: text the block's output must contain. */
export function printsOf(note) {
  return [...note.matchAll(/prints "([^"]+)"/g)].map((m) => m[1]);
}
