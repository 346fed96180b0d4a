/**
 * Installs the Claude Code the e2e tier, the demo and the bench run (CURRENT_PINNED) into the cache beside
 * node_modules, unless it is there or CLAUDE_FAILOVER_TEST_CLAUDE names another binary. The test runner calls it.
 */
import { CURRENT_PINNED, ensureClaude } from "../test/support/claude-install.js";

if (!process.env.CLAUDE_FAILOVER_TEST_CLAUDE) {
  const { version, bin } = await ensureClaude(CURRENT_PINNED);
  process.stderr.write(`Claude Code ${version}: ${bin}\n`);
}
