// `npm run bench`: every benchmark, one after the other. Figures are medians with ratios against a
// baseline measured in the same run; the machine is shared, so compare ratios, not absolutes.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const only = process.argv.slice(2);
const suites = ['engine', 'bundle', 'verify', 'proxy', 'supervision', 'storage'];
for (const name of suites) {
  if (only.length > 0 && !only.includes(name)) continue;
  const file = fileURLToPath(new URL(`./${name}.mjs`, import.meta.url));
  if (!fs.existsSync(file)) {
    console.log(`\n# ${name}: not present`);
    continue;
  }
  console.log(`\n# ${name}`);
  const mod = await import(file);
  await mod.main();
}
