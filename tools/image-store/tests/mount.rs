//! image-store mount at the paths users give it.

use slipway_tests::*;
use std::fs;

#[test]
fn mount_takes_a_relative_directory_for_a_stack_of_layers() {
    let env = Env::new();
    let l1 = files_layer(env.dir.path(), "l1.tar", &[("a", b"a1")]);
    let l2 = files_layer(env.dir.path(), "l2.tar", &[("b", b"b2")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "-t", "two"]).arg(&l1).arg(&l2);
    ok(c);
    // The command runs in the test's directory: "rel" is relative to it.
    let mut c = env.cmd("image-store");
    c.args(["mount", "two", "rel"]);
    ok(c);
    let seen = fs::read_to_string(env.path("rel/b"));
    let mut c = env.cmd("image-store");
    c.args(["umount", "rel"]);
    ok(c);
    assert_eq!(seen.unwrap(), "b2");
}
