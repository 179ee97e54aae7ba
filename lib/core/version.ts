/** The cartkit version, printed by every tool's --version. */
export const VERSION = "0.1.0";
