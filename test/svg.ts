// What a test can check of an SVG without a browser: that it is one well-formed <svg> document (every tag closed in
// order, no bare < or & in text or attributes), and the words it shows.
import assert from 'node:assert/strict';

const TAG = /<(\/?)([\w:-]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
const BARE = /<|&(?!(amp|lt|gt|quot|apos|#\d+);)/;

export function assertSvg(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]* width="\d+" height="\d+"/);
  const open: string[] = [];
  for (const [tag, close, name, attributes, selfClosing] of svg.matchAll(TAG)) {
    assert.doesNotMatch(attributes.replace(/[\w:-]+="/g, ''), BARE, tag);
    if (selfClosing) continue;
    if (close) assert.equal(open.pop(), name, `${tag} closes nothing open`);
    else open.push(name);
  }
  assert.deepEqual(open, [], 'unclosed tags');
  assert.doesNotMatch(svg.trimEnd().replace(TAG, ''), BARE, 'a malformed tag, or a bare < or & in the text');
}

/** The words of every <text> element (its lines joined), unescaped. */
export function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/g)].map((m) => m[1].replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'));
}
