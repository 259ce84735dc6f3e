import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { readWorkerConfig } from '../../containers/shared/worker-config';
import { themeSeeds } from '../../migrations/seeds/themes';

/**
 * Which documents the local run can render with what this machine has: PDF needs Chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium), DOCX needs Pandoc (PANDOC_PATH, default `pandoc` on
 * the PATH); HTML is rendered in process. `npm run dev` starts without them (the API serves, the
 * orders of those themes fail to render) and its banner says what is missing, as
 * scripts/install-system-deps.sh does.
 */
export function executable(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

export interface RenderSupport {
  /** One line per format for the banner. */
  lines: string[];
  /** The formats this machine cannot render. */
  missing: ('pdf' | 'docx')[];
}

export function renderSupport(env: NodeJS.ProcessEnv = process.env): RenderSupport {
  const worker = readWorkerConfig(env);
  const themes = (format: string) => themeSeeds.filter((t) => t.output_format === format).map((t) => t.slug).join(', ');
  const checks = [
    { format: 'pdf' as const, tool: 'Chromium', path: worker.chromiumPath, variable: 'CHROMIUM_PATH' },
    { format: 'docx' as const, tool: 'Pandoc', path: worker.pandocPath, variable: 'PANDOC_PATH' },
  ];
  const lines: string[] = [];
  const missing: RenderSupport['missing'] = [];
  for (const c of checks) {
    if (executable(c.path, env)) {
      lines.push(`${c.format.toUpperCase()} with ${c.tool} (${c.path})`);
    } else {
      missing.push(c.format);
      lines.push(
        `${c.format.toUpperCase()} cannot be rendered (themes ${themes(c.format)}): no ${c.tool} at ${c.path}; ` +
          `install it (scripts/install-system-deps.sh says how) or set ${c.variable}`,
      );
    }
  }
  lines.push('HTML in process');
  return { lines, missing };
}
