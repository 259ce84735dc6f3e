import { PdfRenderer } from './browser';
import { markdownToHtml } from './markdown';
import { markdownToDocx, PandocOptions } from './pandoc';
import { reportHtml } from './templates';

export type OutputFormat = 'pdf' | 'docx' | 'html';

export interface RenderedDocument {
  body: Buffer;
  ext: OutputFormat;
  contentType: string;
}

export interface DocumentInput {
  format: OutputFormat;
  themeSlug: string;
  themeTitle: string;
  orderId: string;
  markdown: string;
  generatedAt?: Date;
}

const CONTENT_TYPES: Record<OutputFormat, string> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  html: 'text/html; charset=utf-8',
};

/**
 * One rendering path per output format: PDF = themed HTML (markdown-it) printed by Chromium
 * (no LaTeX); DOCX = Pandoc from the Markdown (read sandboxed, images turned into their alt
 * text before the writer runs: see pandoc.ts); HTML = the same themed page the PDF is printed
 * from. In every path the generated text is content only: no renderer reads a file or fetches
 * a URL it names (test/workers/doc-generation-untrusted-text.test.ts).
 */
export async function renderDocument(input: DocumentInput, pdf: PdfRenderer, pandoc: PandocOptions = {}): Promise<RenderedDocument> {
  const done = (body: Buffer): RenderedDocument => ({ body, ext: input.format, contentType: CONTENT_TYPES[input.format] });
  if (input.format === 'docx') return done(await markdownToDocx(input.markdown, input.themeTitle, pandoc));
  const html = reportHtml({
    themeSlug: input.themeSlug,
    themeTitle: input.themeTitle,
    orderId: input.orderId,
    bodyHtml: markdownToHtml(input.markdown),
    generatedAt: input.generatedAt ?? new Date(),
  });
  if (input.format === 'html') return done(Buffer.from(html, 'utf8'));
  return done(await pdf.render(html));
}
