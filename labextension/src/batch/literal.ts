/**
 * A small reader of Python literals (the right-hand sides of a `parameters` cell).
 *
 * Understands what papermill-style parameter cells hold: integers and floats (with `_`
 * separators, signs, exponents), `True`/`False`/`None`, single- or double-quoted strings (also
 * triple-quoted on one line, raw `r'…'`, the usual escapes), and lists, tuples and dicts of
 * those. Everything else (names, calls, expressions) is "not a literal".
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner.
 */
import type { ParameterValue } from '../types';

/** The result of reading a literal at the start of a text. */
export type LiteralResult =
  | { ok: true; value: ParameterValue; end: number }
  | { ok: false; error: string };

class LiteralSyntaxError extends Error {}

class Reader {
  pos = 0;

  constructor(readonly text: string) {}

  skipSpace(): void {
    while (this.pos < this.text.length && /[ \t]/.test(this.text[this.pos])) {
      this.pos++;
    }
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  fail(what: string): never {
    const near = this.text.slice(this.pos, this.pos + 12);
    throw new LiteralSyntaxError(
      near ? `${what} at ${JSON.stringify(near)}` : `${what} at the end of the line`
    );
  }

  value(): ParameterValue {
    this.skipSpace();
    const c = this.peek();
    if (c === '[') {
      return this.sequence('[', ']');
    }
    if (c === '(') {
      return this.sequence('(', ')');
    }
    if (c === '{') {
      return this.dict();
    }
    if (c === '"' || c === "'" || (/[rRuU]/.test(c) && /["']/.test(this.text[this.pos + 1]))) {
      return this.string();
    }
    if (/[-+0-9.]/.test(c)) {
      return this.number();
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
    if (word) {
      const constants: Record<string, ParameterValue> = { True: true, False: false, None: null };
      if (word[0] in constants) {
        this.pos += word[0].length;
        return constants[word[0]];
      }
      this.fail(`${word[0]} is a name, not a literal`);
    }
    this.fail('expected a literal');
  }

  sequence(open: string, close: string): ParameterValue[] {
    this.pos++; // the opening bracket
    const items: ParameterValue[] = [];
    let sawComma = false;
    for (;;) {
      this.skipSpace();
      if (this.peek() === close) {
        this.pos++;
        // `(1)` is a parenthesised value, `(1,)` a tuple.
        if (open === '(' && items.length === 1 && !sawComma) {
          return items[0] as ParameterValue[];
        }
        return items;
      }
      if (items.length > 0) {
        if (this.peek() !== ',') {
          this.fail(`expected ',' or '${close}'`);
        }
        this.pos++;
        sawComma = true;
        this.skipSpace();
        if (this.peek() === close) {
          continue;
        }
      }
      items.push(this.value());
    }
  }

  dict(): Record<string, ParameterValue> {
    this.pos++; // {
    const out: Record<string, ParameterValue> = {};
    let first = true;
    for (;;) {
      this.skipSpace();
      if (this.peek() === '}') {
        this.pos++;
        return out;
      }
      if (!first) {
        if (this.peek() !== ',') {
          this.fail("expected ',' or '}'");
        }
        this.pos++;
        this.skipSpace();
        if (this.peek() === '}') {
          continue;
        }
      }
      first = false;
      const key = this.value();
      if (typeof key !== 'string' && typeof key !== 'number') {
        this.fail('dict keys must be strings or numbers');
      }
      this.skipSpace();
      if (this.peek() !== ':') {
        this.fail("expected ':'");
      }
      this.pos++;
      out[String(key)] = this.value();
    }
  }

  string(): string {
    let raw = false;
    while (/[rRuU]/.test(this.peek())) {
      raw = raw || /[rR]/.test(this.peek());
      this.pos++;
    }
    const quote = this.text.startsWith(this.peek().repeat(3), this.pos)
      ? this.peek().repeat(3)
      : this.peek();
    this.pos += quote.length;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) {
        this.fail('unterminated string');
      }
      if (this.text.startsWith(quote, this.pos)) {
        this.pos += quote.length;
        return out;
      }
      const c = this.text[this.pos++];
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++] ?? '';
      if (raw) {
        out += '\\' + e;
        continue;
      }
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        '0': '\0',
        '\\': '\\',
        "'": "'",
        '"': '"'
      };
      if (e in simple) {
        out += simple[e];
      } else if (e === 'x' || e === 'u') {
        const n = e === 'x' ? 2 : 4;
        const hex = this.text.slice(this.pos, this.pos + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) {
          this.fail(`bad \\${e} escape`);
        }
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += n;
      } else {
        out += '\\' + e; // Python keeps unknown escapes as written
      }
    }
  }

  number(): number {
    const m = /^[-+]?(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?/.exec(
      this.text.slice(this.pos)
    );
    if (!m || /^[-+]?\.?$/.test(m[0])) {
      this.fail('expected a number');
    }
    const cleaned = m[0].replace(/_/g, '');
    const value = Number(cleaned);
    if (!Number.isFinite(value)) {
      this.fail('not a finite number');
    }
    this.pos += m[0].length;
    return value;
  }
}

/** Read one literal at the start of `text`; `end` is where it stopped (spaces skipped). */
export function readLiteral(text: string): LiteralResult {
  const reader = new Reader(text);
  try {
    const value = reader.value();
    reader.skipSpace();
    return { ok: true, value, end: reader.pos };
  } catch (error) {
    if (error instanceof LiteralSyntaxError) {
      return { ok: false, error: error.message };
    }
    throw error;
  }
}

/** Parse `text` as exactly one literal (nothing may follow it). */
export function parseLiteral(text: string): LiteralResult {
  const result = readLiteral(text.trim());
  if (result.ok && result.end < text.trim().length) {
    return {
      ok: false,
      error: `unexpected ${JSON.stringify(text.trim().slice(result.end))} after the value`
    };
  }
  return result;
}

/**
 * The value a user meant by typing `text` into a parameter field.
 *
 * A Python literal is taken as such (`0.5`, `'adam'`, `[1, 2]`, `None`); text that is not one
 * and has no quotes or brackets (`adam`, `data/train.csv`, `2024-01-31`) is taken as a string,
 * so strings need no quotes. An unfinished literal (an open quote or bracket) is an error.
 */
export function valueFromInput(text: string): LiteralResult {
  const trimmed = text.trim();
  if (!trimmed) {
    return { ok: false, error: 'no value given' };
  }
  const literal = parseLiteral(trimmed);
  if (literal.ok) {
    return literal;
  }
  if (!/[\[\](){}'"]/.test(trimmed)) {
    return { ok: true, value: trimmed, end: trimmed.length };
  }
  return { ok: false, error: `${trimmed} is not a value: ${literal.error}` };
}
