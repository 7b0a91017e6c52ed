//! Whether a program path can be replaced by a user other than root: a system-scope manifest
//! runs its host (and the host starts the daemon next to it) for every user, so neither may
//! live where one user could swap it for everyone (`docs/install.md`).
//!
//! The rule, for the program and every directory above it (after resolving symlinks): owned by
//! root; not world-writable (a sticky bit does not help: it still lets each user create names,
//! and a non-root owner anywhere on the path can replace what lies below); not group-writable
//! unless the group is root's and has no non-root member. [`entry_problem`] applies it to one
//! entry's metadata without I/O; [`replaceable_by_non_root`] walks a real path.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The ownership and mode bits [`entry_problem`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Owning user id.
    pub uid: u32,
    /// Owning group id.
    pub gid: u32,
    /// `st_mode` (permission bits are enough).
    pub mode: u32,
}

impl From<&std::fs::Metadata> for Owner {
    fn from(meta: &std::fs::Metadata) -> Self {
        Owner {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode(),
        }
    }
}

/// Why a non-root user could replace `path` with these owner and mode bits, or `None`.
/// `group_root_only(gid)` says whether group `gid` has only root as a member.
pub fn entry_problem(
    path: &Path,
    owner: Owner,
    group_root_only: impl Fn(u32) -> bool,
) -> Option<String> {
    let shown = path.display();
    if owner.uid != 0 {
        return Some(format!(
            "{shown} is owned by uid {} (not root), who can replace it",
            owner.uid
        ));
    }
    if owner.mode & 0o002 != 0 {
        return Some(format!("{shown} is writable by every user"));
    }
    if owner.mode & 0o020 != 0 && !group_root_only(owner.gid) {
        return Some(format!(
            "{shown} is writable by group {}, which has members other than root",
            owner.gid
        ));
    }
    None
}

/// Every reason a non-root user could replace the program at `path`: the resolved program and
/// each directory above it, nearest first. Returns the resolved path too (what a manifest
/// should name, so no symlink can be swapped later).
pub fn replaceable_by_non_root(path: &Path) -> Result<(PathBuf, Vec<String>), String> {
    let resolved = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let groups = GroupTable::read();
    let mut problems = Vec::new();
    let mut entry = Some(resolved.as_path());
    while let Some(p) = entry {
        let meta =
            std::fs::metadata(p).map_err(|e| format!("cannot inspect {}: {e}", p.display()))?;
        if let Some(problem) = entry_problem(p, Owner::from(&meta), |gid| groups.root_only(gid)) {
            problems.push(problem);
        }
        entry = p.parent();
    }
    Ok((resolved, problems))
}

/// Group 0's non-root members, from `/etc/group` (listed members) and `/etc/passwd` (users whose
/// primary group it is). Any other group counts as having non-root members.
struct GroupTable {
    root_group_only_root: bool,
}

impl GroupTable {
    fn read() -> Self {
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        GroupTable {
            root_group_only_root: root_group_only_root(&group, &passwd),
        }
    }

    fn root_only(&self, gid: u32) -> bool {
        gid == 0 && self.root_group_only_root
    }
}

/// True when group 0 has no member but root in `group` (`/etc/group`) and no non-root user has it
/// as primary group in `passwd` (`/etc/passwd`). Unreadable or odd files count as "has others".
fn root_group_only_root(group: &str, passwd: &str) -> bool {
    let Some(line) = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[2] == "0")
    else {
        return false;
    };
    let listed_ok = line[3]
        .split(',')
        .map(str::trim)
        .all(|m| m.is_empty() || m == "root");
    let primary_ok = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .all(|f| f[3] != "0" || f[2] == "0");
    listed_ok && primary_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: u32, gid: u32, mode: u32) -> Owner {
        Owner { uid, gid, mode }
    }

    #[test]
    fn only_root_may_be_able_to_write() {
        let p = Path::new("/usr/local/bin");
        let root_only = |gid: u32| gid == 0;
        assert_eq!(entry_problem(p, owner(0, 0, 0o40755), root_only), None);
        assert_eq!(entry_problem(p, owner(0, 0, 0o40775), root_only), None);
        assert!(
            entry_problem(p, owner(1000, 0, 0o40755), root_only)
                .unwrap()
                .contains("uid 1000")
        );
        assert!(
            entry_problem(p, owner(0, 50, 0o42775), root_only)
                .unwrap()
                .contains("group 50")
        );
        assert!(
            entry_problem(p, owner(0, 0, 0o40775), |_| false)
                .unwrap()
                .contains("group 0")
        );
        // Sticky or not, world-writable is refused.
        assert!(entry_problem(p, owner(0, 0, 0o41777), root_only).is_some());
        assert!(entry_problem(p, owner(0, 0, 0o40757), root_only).is_some());
        // Group-readable/executable only is fine.
        assert_eq!(entry_problem(p, owner(0, 50, 0o40755), root_only), None);
    }

    #[test]
    fn reads_who_is_in_the_root_group() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert!(root_group_only_root(
            "root:x:0:\nstaff:x:50:alice\n",
            passwd
        ));
        assert!(root_group_only_root("root:x:0:root\n", passwd));
        assert!(!root_group_only_root("root:x:0:alice\n", passwd));
        assert!(!root_group_only_root(
            "root:x:0:\n",
            "root:x:0:0::/root:/bin/sh\ntoor:x:7:0::/:/bin/sh\n"
        ));
        assert!(!root_group_only_root("", passwd));
    }
}
