/** A deterministic report of about 800 words with a table and a list: two A4 pages in the business-plan template. */
export function twoPageReport(): string {
  const para = (topic: string) =>
    `${topic} is where the plan turns ambition into numbers. The company sells rooftop solar kits to small businesses in the Paris region, ` +
    `installs them within two weeks and maintains them for ten years. Margins come from installation and maintenance contracts; ` +
    `the hardware is sold close to cost so that the monthly price beats the electricity bill it replaces from the first month.`;
  const sections = ['Executive summary', 'Market', 'Offer', 'Go-to-market'];
  const out: string[] = ['# Solaris SAS — business plan', ''];
  for (const s of sections) out.push(`## ${s}`, '', para(s), '', para(`${s}, continued,`), '');
  out.push('## Three-year outline', '', '| Year | Revenue (k€) | Margin | Installations |', '|---|---|---|---|');
  out.push('| 1 | 420 | 18% | 60 |', '| 2 | 1,150 | 24% | 160 |', '| 3 | 2,300 | 29% | 310 |', '');
  out.push('## Risks', '', '- supply of panels and inverters', '- installer hiring', '- interest rates for client financing', '');
  return out.join('\n');
}
