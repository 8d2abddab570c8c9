//! One suite, run on each kind of store: what the node relies on holds for
//! both.

use bytes::Bytes;

use crate::*;

async fn behaves(store: &dyn FileStore) {
    let a = FileId::generate();
    let b = FileId::generate();
    assert_ne!(a, b);
    assert!(store.parts(&a).await.unwrap().is_empty());
    assert!(store.get_part(&a, 0).await.unwrap().is_none());

    // Parts come back as written, listed in number order whatever order
    // they were written in.
    let big = Bytes::from(
        (0..1_048_832u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    );
    store
        .put_part(&a, 1, Bytes::from_static(b"second"))
        .await
        .unwrap();
    store.put_part(&a, 0, big.clone()).await.unwrap();
    store
        .put_part(&a, 10, Bytes::from_static(b""))
        .await
        .unwrap();
    assert_eq!(store.parts(&a).await.unwrap(), vec![0, 1, 10]);
    assert_eq!(store.get_part(&a, 0).await.unwrap().unwrap(), big);
    assert_eq!(store.get_part(&a, 10).await.unwrap().unwrap().len(), 0);

    // Writing a part again replaces it whole.
    store
        .put_part(&a, 1, Bytes::from_static(b"again"))
        .await
        .unwrap();
    assert_eq!(&store.get_part(&a, 1).await.unwrap().unwrap()[..], b"again");

    store
        .put_part(&b, 0, Bytes::from_static(b"other"))
        .await
        .unwrap();
    let files = store.files().await.unwrap();
    assert!(files.contains(&a) && files.contains(&b), "{files:?}");

    // Deleting one file leaves the other; deleting twice is no error.
    store.delete(&a).await.unwrap();
    store.delete(&a).await.unwrap();
    assert!(store.parts(&a).await.unwrap().is_empty());
    assert!(store.get_part(&a, 0).await.unwrap().is_none());
    assert!(!store.files().await.unwrap().contains(&a));
    assert_eq!(&store.get_part(&b, 0).await.unwrap().unwrap()[..], b"other");
    store.delete(&b).await.unwrap();
}

#[test]
fn file_ids_are_128_random_bits_in_hex_and_nothing_else_parses() {
    let id = FileId::generate();
    assert_eq!(FileId::parse(id.as_str()).unwrap(), id);
    for bad in [
        "",
        "../../etc/passwd",
        &"A".repeat(32),
        &"0".repeat(31),
        &"0".repeat(33),
    ] {
        assert!(FileId::parse(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_directory_store_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(&dir.path().join("files/jp")).unwrap();
    behaves(&store).await;
    // A write a crash cut short (its temporary name) is not a part.
    let id = FileId::generate();
    store
        .put_part(&id, 0, Bytes::from_static(b"whole"))
        .await
        .unwrap();
    let file_dir = dir
        .path()
        .join("files/jp")
        .join(&id.as_str()[..2])
        .join(id.as_str());
    std::fs::write(file_dir.join(".0000000001.deadbeef"), b"half").unwrap();
    assert_eq!(store.parts(&id).await.unwrap(), vec![0]);
    assert!(store.describe().contains("files/jp"));
    // Nobody else on the machine reads any of it, directories included.
    #[cfg(unix)]
    for p in [
        dir.path().join("files"),
        dir.path().join("files/jp"),
        file_dir.clone(),
        file_dir.join("0000000000"),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", p.display(), mode);
    }
}

/// The S3-compatible store the tests use: `KIZUNA_TEST_S3`, else the one
/// `scripts/services-up` starts on 127.0.0.1:7549.
fn test_s3() -> String {
    std::env::var("KIZUNA_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:7549".into())
}

/// Creates `bucket` on the test store (an unsigned PUT, which the test
/// store accepts).
async fn create_bucket(endpoint: &str, bucket: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap_or_else(|e| {
        panic!("no S3-compatible store at {endpoint} ({e}): run scripts/services-up, which starts one")
    });
    s.write_all(
        format!("PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_s3_store_behaves() {
    let endpoint = test_s3();
    let bucket = format!("kizuna-{}", &FileId::generate().as_str()[..12]);
    create_bucket(&endpoint, &bucket).await;
    let store = S3Store::new(&S3Settings {
        endpoint: endpoint.clone(),
        bucket: bucket.clone(),
        region: "ap-northeast-1".into(),
        prefix: "files/jp".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
    .unwrap();
    behaves(&store).await;
    assert!(store.describe().contains(&bucket));

    // A store that cannot be reached is an error naming it, not a panic or
    // an empty answer.
    let gone = S3Store::new(&S3Settings {
        endpoint: "http://127.0.0.1:9".into(),
        bucket,
        region: "ap-northeast-1".into(),
        prefix: String::new(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
    .unwrap();
    let e = gone.parts(&FileId::generate()).await.unwrap_err();
    assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
}
