//! The command-line surface: help, usage errors, completions and man pages.
