import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dialogKey, type DialogDetail } from "./screen-dialogs.js";
import { readFixture } from "./test-screens.js";

describe("dialogKey: the key that moves a start-up dialog towards its wanted option", () => {
  const cases: { name: string; detail: DialogDetail; screen: string; key: string | undefined }[] = [
    { name: "2.1.197 trust: numbered, Yes is 1", detail: "trust-folder", screen: readFixture("03-trust-folder.txt"), key: "1" },
    { name: "2.1.332 trust: cursor on \"No, exit\", no numbers", detail: "trust-folder", screen: readFixture("2.1.332/trust-folder.txt"), key: "Down" },
    { name: "cursor already on Yes", detail: "trust-folder", screen: "   No, exit\n ❯ Yes, I trust this folder\n", key: "Enter" },
    { name: "cursor below Yes", detail: "trust-folder", screen: "   Yes, I trust this folder\n   Maybe\n ❯ No, exit\n", key: "Up" },
    { name: "2.1.197 bypass permissions: Yes is 2", detail: "bypass-permissions", screen: readFixture("41-bypass-permissions-dialog.txt"), key: "2" },
    { name: "2.1.197 API key: Yes is 1, whatever the cursor", detail: "api-key", screen: readFixture("45-api-key-confirm-dialog.txt"), key: "1" },
    { name: "theme: Enter", detail: "theme", screen: readFixture("01-onboarding-theme.txt"), key: "Enter" },
    { name: "a permission prompt is never answered", detail: "permission-prompt", screen: readFixture("21-tool-permission-prompt.txt"), key: undefined },
    { name: "the wanted option is not on screen", detail: "trust-folder", screen: " ❯ No, exit\n", key: undefined },
    { name: "no cursor and no numbers", detail: "trust-folder", screen: "   No, exit\n   Yes, I trust this folder\n", key: undefined },
    { name: "empty screen", detail: "bypass-permissions", screen: "", key: undefined },
  ];
  for (const c of cases) test(c.name, () => assert.equal(dialogKey(c.detail, c.screen), c.key));
});
