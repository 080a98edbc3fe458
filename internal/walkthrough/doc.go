// Package walkthrough holds no code: its test runs the README's
// "Five-minute walkthrough" as written, so that a newcomer's first
// commands keep working from a clean clone. It takes the commands from
// the README's ```sh blocks, builds the CLIs, starts the walkthrough's
// hub on free ports in a temporary directory and runs each command there,
// checking what each must do.
package walkthrough
