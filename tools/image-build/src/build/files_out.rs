//! `-o type=local` and `-o type=tar`: the final image's files, out of
//! the store, as tool calls (so --print-script shows them): the image
//! mounted by image-store, its tree made one tar by layer-diff --dir, and
//! for a directory applied there by layer-diff --apply.

use super::Driver;
use crate::outputs::Output;
use crate::tools::{Action, Call, Out, Word};

impl Driver<'_> {
    /// The calls that write the files of `image` where `o` says, or None
    /// when `o` is not a files output.
    pub(super) fn files_out(&mut self, image: &str, o: &Output) -> Option<Vec<Action>> {
        let tree = match o {
            Output::Local(_) | Output::Tar(_) => Word::Tmp("output-root".into()),
            _ => return None,
        };
        self.num = self.next_number();
        let mut actions = vec![Action::Mkdir(tree.clone())];
        // Several platforms: each one's files in a directory named for
        // it (linux_arm64), as buildx writes them.
        let mounts: Vec<(Word, String)> = match self.platform_images.as_slice() {
            [] => vec![(tree.clone(), image.to_string())],
            many => many
                .iter()
                .map(|(p, img)| {
                    let sub = Word::Tmp(format!("output-root/{}", super::platforms::slug(p)));
                    actions.push(Action::Mkdir(sub.clone()));
                    (sub, img.clone())
                })
                .collect(),
        };
        for (at, img) in &mounts {
            actions.push(Action::Call(
                Call::new("image-store")
                    .arg("mount")
                    .arg(img.as_str())
                    .arg(at.clone()),
            ));
        }
        let whole = Call::new("layer-diff").arg("--dir").arg(tree.clone());
        match o {
            Output::Local(dir) => {
                self.say(self.num, format!("writing the files to {}", dir.display()));
                actions.push(Action::EnsureDir(Word::from(dir.as_path())));
                actions.push(Action::Call(
                    whole.pipe(
                        Call::new("layer-diff")
                            .arg("--apply")
                            .arg(dir.as_path())
                            .stdout(Out::Discard),
                    ),
                ));
            }
            Output::Tar(file) => {
                self.say(self.num, format!("writing the files as a tar to {file}"));
                let to = match file.as_str() {
                    "-" => Out::Stdout,
                    f => Out::File(Word::from(f)),
                };
                actions.push(Action::Call(whole.stdout(to)));
            }
            _ => unreachable!("matched above"),
        }
        // A running build unmounts it with its other mounts, after a
        // failure too; a script says so itself.
        for (at, _) in mounts {
            let Word::Tmp(rel) = &at else {
                unreachable!("mounted in the build's temp dir")
            };
            match self.exec.running().map(|r| r.tmp.join(rel)) {
                Some(dir) => self.mounted.push(dir),
                None => actions.push(Action::Call(Call::new("image-store").arg("umount").arg(at))),
            }
        }
        Some(actions)
    }
}
