use super::merkle::*;
use super::*;

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The leaf inputs and tree heads published with RFC 6962's reference
/// implementation (transparency-dev/merkle, testonly).
const INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_leaves() -> Vec<Hash> {
    INPUTS
        .iter()
        .map(|i| leaf_hash(&hex::decode(i).unwrap()))
        .collect()
}

#[test]
fn published_keys_and_hashes_read_from_hex() {
    let k = TreeHeadKey::new("test/ledger", [4; 32]).verifying_key();
    assert_eq!(key_from_hex(&hex::encode(k.as_bytes())), Some(k));
    assert_eq!(key_from_hex(&hex::encode([4u8; 31])), None);
    assert_eq!(key_from_hex("not hex"), None);
    assert_eq!(hash_from_hex(ROOTS[8]), Some(h(ROOTS[8])));
    assert_eq!(hash_from_hex(&ROOTS[8][2..]), None);
    assert_eq!(hash_from_hex("zz"), None);
}

#[test]
fn roots_match_the_published_vectors() {
    let leaves = reference_leaves();
    for (n, want) in ROOTS.iter().enumerate() {
        assert_eq!(root(&leaves[..n]), h(want), "size {n}");
    }
}

#[test]
fn inclusion_proofs_match_the_published_vectors() {
    let leaves = reference_leaves();
    let cases: [(u64, u64, &[&str]); 6] = [
        (0, 1, &[]),
        (
            0,
            2,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            1,
            2,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, size, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        let proof = inclusion_proof(&leaves[..size as usize], index, size).unwrap();
        assert_eq!(proof, want, "{index} in {size}");
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
    }
}

#[test]
fn consistency_proofs_match_the_published_vectors() {
    let leaves = reference_leaves();
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old, new, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        let proof = consistency_proof(&leaves[..new as usize], old, new).unwrap();
        assert_eq!(proof, want, "{old} to {new}");
        verify_consistency(
            old,
            new,
            &h(ROOTS[old as usize]),
            &h(ROOTS[new as usize]),
            &proof,
        )
        .unwrap();
    }
}

#[test]
fn altered_proofs_heads_and_positions_are_refused() {
    let leaves = reference_leaves();
    let root8 = h(ROOTS[8]);
    let proof = inclusion_proof(&leaves[..], 5, 8).unwrap();
    // Another position, another size, another leaf, a flipped bit, a
    // shortened or lengthened proof: each refused.
    assert!(verify_inclusion(&leaves[5], 4, 8, &proof, &root8).is_err());
    // (Sizes 7 and 8 give leaf 5 the same path; the signed head binds the size.)
    assert!(verify_inclusion(&leaves[5], 5, 6, &proof, &root8).is_err());
    assert!(verify_inclusion(&leaves[4], 5, 8, &proof, &root8).is_err());
    assert!(verify_inclusion(&leaves[5], 8, 8, &proof, &root8).is_err());
    let mut flipped = proof.clone();
    flipped[1][0] ^= 1;
    assert!(verify_inclusion(&leaves[5], 5, 8, &flipped, &root8).is_err());
    assert!(verify_inclusion(&leaves[5], 5, 8, &proof[..2], &root8).is_err());
    let mut longer = proof.clone();
    longer.push(root8);
    assert!(verify_inclusion(&leaves[5], 5, 8, &longer, &root8).is_err());

    // A rewritten history: the old head no longer a prefix of the new.
    let c = consistency_proof(&leaves[..], 6, 8).unwrap();
    let mut forged = leaves.clone();
    forged[2] = leaf_hash(b"rewritten");
    assert!(verify_consistency(6, 8, &root(&forged[..6]), &root8, &c).is_err());
    assert!(verify_consistency(8, 6, &root8, &h(ROOTS[6]), &[]).is_err());
    assert!(verify_consistency(8, 8, &root8, &h(ROOTS[7]), &[]).is_err());
}

mod against_ct_merkle {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
    use proptest::prelude::*;

    type Sha = sha2_ct::Sha256;

    fn theirs(entries: &[Vec<u8>]) -> MemoryBackedTree<Sha, Vec<u8>> {
        let mut t = MemoryBackedTree::new();
        for e in entries {
            t.push(e.clone());
        }
        t
    }

    fn flat(proof: &[Hash]) -> Vec<u8> {
        proof.concat()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn proofs_agree_with_an_independent_implementation(
            entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 1..160),
            pick in any::<u64>(),
            old_pick in any::<u64>(),
        ) {
            let n = entries.len() as u64;
            let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            let t = theirs(&entries);
            let their_root: Hash = t.root().as_bytes().as_slice().try_into().unwrap();
            prop_assert_eq!(root(&leaves), their_root);

            let index = pick % n;
            let ours = inclusion_proof(&leaves[..], index, n).unwrap();
            let their_proof = t.prove_inclusion(index as usize);
            prop_assert_eq!(flat(&ours), their_proof.as_bytes().to_vec());
            verify_inclusion(&leaves[index as usize], index, n, &ours, &their_root).unwrap();
            let their_root_hash = RootHash::<Sha>::new(their_root.into(), n);
            prop_assert!(their_root_hash
                .verify_inclusion(&entries[index as usize], index, &InclusionProof::from_bytes(flat(&ours)))
                .is_ok());

            let old = 1 + old_pick % n;
            let ours = consistency_proof(&leaves[..], old, n).unwrap();
            if old < n {
                let their_proof = t.prove_consistency((n - old) as usize);
                prop_assert_eq!(flat(&ours), their_proof.as_bytes().to_vec());
                let old_root = RootHash::<Sha>::new(root(&leaves[..old as usize]).into(), old);
                prop_assert!(their_root_hash
                    .verify_consistency(&old_root, &ConsistencyProof::try_from_bytes(flat(&ours)).unwrap())
                    .is_ok());
            }
            verify_consistency(old, n, &root(&leaves[..old as usize]), &their_root, &ours).unwrap();
        }
    }
}

mod on_disk {
    use super::*;

    fn key() -> TreeHeadKey {
        TreeHeadKey::new("test.kizuna/ledger", [7; 32])
    }

    fn entries(range: std::ops::Range<u32>) -> Vec<Hash> {
        range.map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[tokio::test]
    async fn appends_are_durable_and_proofs_match_the_definition() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries(0..1000);
        {
            let l = Ledger::open(dir.path(), key()).unwrap();
            // Concurrent appenders share group commits; each gets its own place.
            let mut at = 0;
            for chunk in all.chunks(97) {
                let first = l.append(chunk.to_vec()).await.unwrap();
                assert_eq!(first, at);
                at += chunk.len() as u64;
            }
            let head = l.sign_head().unwrap();
            assert_eq!(head.size, 1000);
            assert_eq!(head.root, root(&all));
        }
        // Reopened: the same tree, and every proof as the definition gives it.
        let l = Ledger::open(dir.path(), key()).unwrap();
        assert_eq!(l.size(), 1000);
        for size in [1u64, 63, 64, 65, 128, 513, 999, 1000] {
            assert_eq!(l.root_at(size).unwrap(), root(&all[..size as usize]));
            for index in [0, size / 3, size - 1] {
                assert_eq!(
                    l.inclusion_proof(index, size).unwrap(),
                    inclusion_proof(&all[..size as usize], index, size).unwrap()
                );
            }
            assert_eq!(
                l.consistency_proof(size / 2, size).unwrap(),
                consistency_proof(&all[..size as usize], size / 2, size).unwrap()
            );
        }
        assert_eq!(l.leaves(60, 200).unwrap(), all[60..200].to_vec());
        assert!(l.inclusion_proof(5, 1001).is_err());
        let heads = l.heads();
        assert_eq!(heads.len(), 1);
        heads[0].verify(&l.verifying_key()).unwrap();
        // A head that covers what is asked is reused; one that does not is
        // not, and a recent one is reused however often it is asked for.
        l.append(entries(1000..1001)).await.unwrap();
        assert_eq!(l.head_covering(1000).unwrap().size, 1000);
        assert_eq!(l.recent_head(60_000).unwrap().size, 1000);
        assert_eq!(l.head_covering(1001).unwrap().size, 1001);
        assert_eq!(l.recent_head(0).unwrap().size, 1001);
        assert_eq!(l.heads().len(), 2);
        assert_eq!(l.heads_page(1, 10), l.heads()[1..].to_vec());
        assert!(l.heads_page(2, 10).is_empty());
    }

    #[tokio::test]
    async fn heads_commit_to_the_key_directory_which_survives_a_reopen() {
        use crate::keymap::{chain_all, directory_key, verify_key};
        let dir = tempfile::tempdir().unwrap();
        let alice = directory_key("alice");
        let bob = directory_key("bob");
        let keyed = entries(100..104);
        {
            let l = Ledger::open(dir.path(), key()).unwrap();
            l.append(entries(0..10)).await.unwrap();
            l.append_keyed(vec![(keyed[0], alice), (keyed[1], bob)])
                .await
                .unwrap();
            l.append(entries(10..20)).await.unwrap();
            l.append_keyed(vec![(keyed[2], alice)]).await.unwrap();
            l.sign_head().unwrap();
            // At an earlier size the directory is what it was then.
            let (value, proof) = l.key_proof(&alice, 12).unwrap();
            assert_eq!(value, chain_all(&[keyed[0]]));
            verify_key(&l.keys_root_at(12), &alice, value.as_ref(), &proof).unwrap();
        }
        let l = Ledger::open(dir.path(), key()).unwrap();
        let head = l.sign_head().unwrap();
        assert_eq!(head.size, 23);
        let keys = head.keys.expect("a head commits to the key directory");
        // Each name proves its whole history, and nothing else, at the head.
        let (value, proof) = l.key_proof(&alice, head.size).unwrap();
        assert_eq!(value, chain_all(&[keyed[0], keyed[2]]));
        verify_key(&keys, &alice, value.as_ref(), &proof).unwrap();
        assert!(verify_key(&keys, &alice, chain_all(&[keyed[0]]).as_ref(), &proof).is_err());
        let (value, proof) = l.key_proof(&directory_key("carol"), head.size).unwrap();
        assert_eq!(value, None);
        verify_key(&keys, &directory_key("carol"), None, &proof).unwrap();
        // Reopened, the directory is built once: its earlier versions are
        // not kept, but their roots are.
        assert!(matches!(
            l.key_proof(&alice, 12),
            Err(LedgerError::DirectoryNotKept { size: 12 })
        ));
        assert_ne!(l.keys_root_at(12), keys);
        assert_eq!(l.keyed_leaves(), vec![(10, alice), (11, bob), (22, alice)]);
        // The signed note carries the root too, and reads back.
        let note = head.to_note(&l.verifying_key());
        assert!(note.contains("\nkeys "));
        assert_eq!(
            SignedTreeHead::from_note(&note, &l.verifying_key()).unwrap(),
            head
        );
        drop(l);
        // A keys file altered under signed heads does not open.
        let path = dir.path().join("keys");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = Ledger::open(dir.path(), key())
            .err()
            .expect("an altered keys file");
        assert!(e.to_string().contains("key directory"), "{e}");
    }

    #[tokio::test]
    async fn a_quiet_ledgers_head_is_signed_again() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path(), key()).unwrap();
        l.append(entries(0..3)).await.unwrap();
        let first = l.sign_head().unwrap();
        assert_eq!(l.sign_head().unwrap(), first, "a recent head stands");
        // As if signed longer ago than a head stands.
        let old = key().sign_with_keys(3, first.root, first.keys, 1);
        {
            let mut heads = l.shared.heads.lock().unwrap();
            l.shared.keep_head(&mut heads, old.clone()).unwrap();
        }
        let fresh = l.sign_head().unwrap();
        assert_eq!(
            (fresh.size, fresh.root, fresh.keys),
            (3, old.root, old.keys)
        );
        assert!(fresh.timestamp_ms > old.timestamp_ms);
        drop(l);
        Ledger::open(dir.path(), key()).expect("heads for one size signed twice open");
    }

    #[tokio::test]
    async fn entries_from_before_the_directory_are_filed_once() {
        use crate::keymap::chain_all;
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path(), key()).unwrap();
        let all = entries(0..6);
        l.append(all.clone()).await.unwrap();
        let filed = l
            .file_earlier(vec![(4, [1; 32]), (1, [1; 32]), (2, [2; 32])])
            .unwrap();
        assert_eq!(filed, 3);
        assert_eq!(
            l.keyed_leaves(),
            vec![(1, [1; 32]), (2, [2; 32]), (4, [1; 32])]
        );
        assert_eq!(
            l.key_proof(&[1; 32], 6).unwrap().0,
            chain_all(&[all[1], all[4]])
        );
        // Once: a ledger with filed leaves files nothing more.
        assert_eq!(l.file_earlier(vec![(5, [3; 32])]).unwrap(), 0);
        let head = l.sign_head().unwrap();
        drop(l);
        let l = Ledger::open(dir.path(), key()).unwrap();
        assert_eq!(l.keys_root_at(6), head.keys.unwrap());
        assert!(l.file_earlier(vec![(9, [3; 32])]).is_ok());
    }

    #[tokio::test]
    async fn keys_written_for_leaves_that_were_not_are_cut_before_the_next_batch() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path(), key()).unwrap();
        l.append_keyed(vec![(entries(0..1)[0], [1; 32])])
            .await
            .unwrap();
        // The leaves file goes away: a keyed batch writes its keys, then
        // fails on its leaves.
        let leaves = dir.path().join("leaves");
        let moved = dir.path().join("leaves.away");
        std::fs::rename(&leaves, &moved).unwrap();
        assert!(l
            .append_keyed(vec![(entries(1..2)[0], [2; 32])])
            .await
            .is_err());
        std::fs::rename(&moved, &leaves).unwrap();
        // A plain batch takes that place; the stray key must not name it.
        l.append(entries(1..2)).await.unwrap();
        assert_eq!(l.keyed_leaves(), vec![(0, [1; 32])]);
        drop(l);
        let l = Ledger::open(dir.path(), key()).expect("the ledger opens");
        assert_eq!(l.keyed_leaves(), vec![(0, [1; 32])]);
    }

    #[tokio::test]
    async fn a_key_whose_leaf_a_crash_left_out_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let l = Ledger::open(dir.path(), key()).unwrap();
            l.append_keyed(vec![(entries(0..1)[0], [1; 32])])
                .await
                .unwrap();
        }
        // A record for entry 1, whose leaf never reached the disk, and a
        // torn one after it.
        let path = dir.path().join("keys");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&[2; 32]);
        bytes.extend_from_slice(&[3; 32]);
        bytes.extend_from_slice(&[9; 7]);
        std::fs::write(&path, &bytes).unwrap();
        let l = Ledger::open(dir.path(), key()).unwrap();
        assert_eq!(l.keyed_leaves(), vec![(0, [1; 32])]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 72);
        l.append_keyed(vec![(entries(1..2)[0], [3; 32])])
            .await
            .unwrap();
        drop(l);
        let l = Ledger::open(dir.path(), key()).unwrap();
        assert_eq!(l.keyed_leaves(), vec![(0, [1; 32]), (1, [3; 32])]);
    }

    #[tokio::test]
    async fn a_torn_write_is_cut_and_altered_leaves_do_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries(0..200);
        {
            let l = Ledger::open(dir.path(), key()).unwrap();
            l.append(all.clone()).await.unwrap();
            l.sign_head().unwrap();
        }
        let leaves = dir.path().join("leaves");
        // Half a leaf from a crash mid-write: never acknowledged, cut off.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&leaves)
            .unwrap();
        std::io::Write::write_all(&mut f, &[1; 16]).unwrap();
        drop(f);
        assert_eq!(Ledger::open(dir.path(), key()).unwrap().size(), 200);

        // One byte changed: the signed head no longer matches.
        let good = std::fs::read(&leaves).unwrap();
        let mut bad = good.clone();
        bad[32 * 150] ^= 1;
        std::fs::write(&leaves, &bad).unwrap();
        let e = Ledger::open(dir.path(), key()).err().unwrap();
        assert!(matches!(e, LedgerError::Damaged(_)), "{e}");

        // Entries removed from the end: the head covers more than is left.
        std::fs::write(&leaves, &good[..32 * 100]).unwrap();
        let e = Ledger::open(dir.path(), key()).err().unwrap();
        assert!(e.to_string().contains("removed"), "{e}");

        // Another key's heads are not this ledger's.
        std::fs::write(&leaves, &good).unwrap();
        let other = TreeHeadKey::new("test.kizuna/ledger", [8; 32]);
        assert!(matches!(
            Ledger::open(dir.path(), other).err().unwrap(),
            LedgerError::BadSignature
        ));
    }

    #[tokio::test]
    async fn a_ledger_whose_storage_is_gone_refuses_appends_and_resumes_when_back() {
        let dir = tempfile::tempdir().unwrap();
        let ledger_dir = dir.path().join("ledger");
        let l = Ledger::open(&ledger_dir, key()).unwrap();
        l.append(entries(0..10)).await.unwrap();
        let moved = dir.path().join("elsewhere");
        std::fs::rename(&ledger_dir, &moved).unwrap();
        let e = l.append(entries(10..20)).await.unwrap_err();
        assert!(matches!(e, LedgerError::Unwritable(_)), "{e}");
        assert_eq!(l.size(), 10);
        std::fs::rename(&moved, &ledger_dir).unwrap();
        assert_eq!(l.append(entries(10..20)).await.unwrap(), 10);
        drop(l);
        assert_eq!(Ledger::open(&ledger_dir, key()).unwrap().size(), 20);
    }
}

mod auditing {
    use super::*;
    use crate::audit::check_heads;

    #[test]
    fn heads_are_checked_against_the_leaves_in_one_pass() {
        let k = TreeHeadKey::new("test/ledger", [4; 32]);
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let heads: Vec<SignedTreeHead> = [0usize, 1, 64, 65, 200, 300]
            .iter()
            .map(|&n| k.sign(n as u64, root(&leaves[..n]), n as u64))
            .collect();
        let key = k.verifying_key();
        assert!(check_heads(&leaves, None, &heads, &[], &key, "test/ledger").is_empty());

        // A leaf changed: every head after it disagrees.
        let mut changed = leaves.clone();
        changed[150] = leaf_hash(b"x");
        assert_eq!(
            check_heads(&changed, None, &heads, &[], &key, "test/ledger").len(),
            2
        );
        // Two leaves swapped.
        let mut swapped = leaves.clone();
        swapped.swap(10, 11);
        assert_eq!(
            check_heads(&swapped, None, &heads, &[], &key, "test/ledger").len(),
            4
        );
        // Truncated: the last head covers more than is left.
        let p = check_heads(&leaves[..250], None, &heads, &[], &key, "test/ledger");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].index, Some(250));
        // Rolled back with its own heads, but a witness kept a later one.
        let p = check_heads(
            &leaves[..200],
            None,
            &heads[..5],
            &heads[5..],
            &key,
            "test/ledger",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        // The key directory each head commits to is recomputed from the
        // keyed leaves: one hidden from it, or filed under another key,
        // does not match.
        let keyed: Vec<(u64, Hash)> = vec![(3, [1; 32]), (70, [2; 32]), (71, [1; 32])];
        let map = keyed
            .iter()
            .fold(crate::keymap::KeyMap::default(), |m, (i, k)| {
                m.log(k, &leaves[*i as usize])
            });
        let keyed_head = k.sign_with_keys(100, root(&leaves[..100]), Some(map.root()), 1);
        let heads = [keyed_head];
        assert!(check_heads(&leaves, Some(&keyed), &heads, &[], &key, "test/ledger").is_empty());
        let hidden = &keyed[..2];
        assert_eq!(
            check_heads(&leaves, Some(hidden), &heads, &[], &key, "test/ledger").len(),
            1
        );
        let refiled = vec![(3, [1; 32]), (70, [1; 32]), (71, [1; 32])];
        assert_eq!(
            check_heads(&leaves, Some(&refiled), &heads, &[], &key, "test/ledger").len(),
            1
        );
        // A head not signed by the ledger's key.
        let forged = TreeHeadKey::new("test/ledger", [5; 32]).sign(300, root(&leaves), 1);
        assert_eq!(
            check_heads(&leaves, None, &[forged], &[], &key, "test/ledger").len(),
            1
        );
    }
}
