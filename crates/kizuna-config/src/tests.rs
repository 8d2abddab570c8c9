//! The configuration as a file states it: what is accepted, and each
//! mistake refused naming its place.

use super::*;

fn with(edit: impl Fn(&str) -> String) -> Result<Regions, ConfigError> {
    Regions::parse(&edit(DEFAULT_TOML), "test.toml")
}

fn problem(r: Result<Regions, ConfigError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn the_embedded_default_is_valid() {
    let r = Regions::embedded();
    assert_eq!(r.ids(), vec!["jp", "kr"]);
    assert_eq!(r.node_region().country, "JP");
    let kr = r.region("kr").unwrap();
    let jp_access = kr.access_from("JP").unwrap();
    assert_eq!(jp_access.disclosure.as_ref().unwrap().country_name, "Japan");
    assert!(kr.access_from("KR").unwrap().disclosure.is_none());
    assert!(kr.access_from("US").is_none());
}

#[test]
fn report_retention_is_a_period() {
    assert_eq!(
        Regions::embedded().report_retention,
        DEFAULT_REPORT_RETENTION
    );
    let r = with(|t| t.replace("report_retention = \"90d\"", "report_retention = \"3s\"")).unwrap();
    assert_eq!(r.report_retention, std::time::Duration::from_secs(3));
    for bad in ["0d", "ten days", "5w", ""] {
        let e = problem(with(|t| {
            t.replace(
                "report_retention = \"90d\"",
                &format!("report_retention = \"{bad}\""),
            )
        }));
        assert!(e.contains("[report_retention]"), "{e}");
    }
}

#[test]
fn an_incomplete_disclosure_names_its_place() {
    let e = problem(with(|t| {
        t.replace(
            "transfer_basis = \"PIPA Art. 28-8: your consent to this transfer, with the information above given beforehand.\"\n",
            "",
        )
    }));
    assert!(e.contains("[regions.kr.access_from.JP]"), "{e}");
    assert!(e.contains("transfer_basis"), "{e}");
}

#[test]
fn translations_are_complete_and_tagged_by_language() {
    let r = Regions::embedded();
    let kr_from_jp = r.region("kr").unwrap().access_from("JP").unwrap();
    let ja = &kr_from_jp.translations["ja"];
    assert_eq!(ja.disclosure.as_ref().unwrap().country_name, "日本");
    assert!(r
        .region("jp")
        .unwrap()
        .access_from("JP")
        .unwrap()
        .translations["ko"]
        .disclosure
        .is_none());
    // A translation of a foreign country's rule owes the whole
    // disclosure, as the rule itself does.
    let e = problem(with(|t| t.replace("country_name = \"일본\"\n", "")));
    assert!(
        e.contains("[regions.kr.access_from.JP.translations.ko]") && e.contains("country_name"),
        "{e}"
    );
    // The region's own country takes none, in any language.
    let e = problem(with(|t| {
        t.replacen(
            "[regions.kr.access_from.KR.translations.ja]\n",
            "[regions.kr.access_from.KR.translations.ja]\ncountry_name = \"韓国\"\n",
            1,
        )
    }));
    assert!(
        e.contains("[regions.kr.access_from.KR.translations.ja]") && e.contains("no foreign"),
        "{e}"
    );
    let e = problem(with(|t| {
        t.replace(
            "[regions.kr.access_from.JP.translations.ja]",
            "[regions.kr.access_from.JP.translations.Japanese]",
        )
    }));
    assert!(e.contains("not a language tag"), "{e}");
    // Unknown keys in a translation are typos, refused.
    let e = problem(with(|t| {
        t.replacen("country_name = \"日本\"", "countryname = \"日本\"", 1)
    }));
    assert!(e.contains("countryname"), "{e}");
}

#[test]
fn each_region_keeps_its_files_in_a_place_of_its_own() {
    let r = Regions::embedded();
    assert_eq!(
        r.region("kr").unwrap().files,
        FilesLocation::Dir("files/kr".into())
    );
    assert_eq!(r.file_limits, FileLimits::default());
    assert_eq!(r.file_limits.max_size, 100 * 1024 * 1024);
    // Not given: a directory named after the region.
    let r = with(|t| t.replace("files = { dir = \"files/kr\" }\n", "")).unwrap();
    assert_eq!(
        r.region("kr").unwrap().files,
        FilesLocation::Dir("files/kr".into())
    );
    let s3 = "files = { s3 = { endpoint = \"http://127.0.0.1:7549/\", bucket = \"kz\", region = \"ap-northeast-2\", prefix = \"/kr/\", access_key_env = \"KZ_S3_KEY\", secret_key_env = \"KZ_S3_SECRET\" } }";
    let r = with(|t| t.replace("files = { dir = \"files/kr\" }", s3)).unwrap();
    let FilesLocation::S3(b) = &r.region("kr").unwrap().files else {
        panic!("not S3")
    };
    assert_eq!(
        (b.endpoint.as_str(), b.prefix.as_str()),
        ("http://127.0.0.1:7549", "kr")
    );
    assert!(b.keys().unwrap_err().contains("KZ_S3_KEY"));
    for (bad, says) in [
        ("files = { dir = \"files/jp\" }", "already keeps its files there"),
        ("files = { dir = \".\" }", "not a directory of the region's own"),
        ("files = { dir = \"../elsewhere\" }", "not a directory of the region's own"),
        ("files = { dir = \"node.sqlite\" }", "not a directory of the region's own"),
        ("files = { }", "say where"),
        (
            "files = { s3 = { endpoint = \"s3.example\", bucket = \"b\", region = \"r\", access_key_env = \"A\", secret_key_env = \"B\" } }",
            "not a URL",
        ),
        (
            "files = { s3 = { endpoint = \"https://s3.example\", bucket = \"b\", region = \"r\", access_key_env = \"AKIA123:secret\", secret_key_env = \"B\" } }",
            "never written in the file",
        ),
    ] {
        let e = problem(with(|t| t.replace("files = { dir = \"files/kr\" }", bad)));
        assert!(e.contains("[regions.kr.files]") && e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn file_limits_are_sizes_and_periods() {
    let r = with(|t| t.replace("max_size = \"100MiB\"", "max_size = \"5MiB\"")).unwrap();
    assert_eq!(r.file_limits.max_size, 5 * 1024 * 1024);
    assert_eq!(parse_size("512KiB"), Some(512 * 1024));
    assert_eq!(parse_size("1000"), Some(1000));
    for bad in ["0MiB", "5MB", "lots", ""] {
        assert_eq!(parse_size(bad), None, "{bad}");
        let e = problem(with(|t| {
            t.replace("quota = \"2GiB\"", &format!("quota = \"{bad}\""))
        }));
        assert!(e.contains("[files.quota]"), "{bad}: {e}");
    }
    let e = problem(with(|t| t.replace("quota = \"2GiB\"", "quota = \"1MiB\"")));
    assert!(e.contains("smaller than the largest file"), "{e}");
    let e = problem(with(|t| {
        t.replace("retention = \"365d\"", "retention = \"a year\"")
    }));
    assert!(e.contains("[files.retention]"), "{e}");
}

#[test]
fn unknown_node_region_duplicates_and_typos_are_refused() {
    let e = problem(with(|t| {
        t.replace("node_region = \"jp\"", "node_region = \"us\"")
    }));
    assert!(e.contains("[node_region]") && e.contains("jp, kr"), "{e}");
    // A second [regions.jp] table is a TOML error with its line.
    let e = problem(with(|t| format!("{t}\n[regions.jp]\ncountry = \"JP\"\n")));
    assert!(e.contains("line"), "{e}");
    let e = problem(with(|t| {
        t.replacen(
            "[regions.jp]\ncountry = \"JP\"",
            "[regions.jp]\ncontry = \"JP\"",
            1,
        )
    }));
    assert!(e.contains("contry"), "{e}");
    let e = problem(with(|t| {
        t.replace("regions/kr.sqlite", "regions/jp.sqlite")
    }));
    assert!(e.contains("[regions.kr.store]"), "{e}");
    let e = problem(with(|t| {
        t.replace("keys/region-kr.key", "keys/region-jp.key")
    }));
    assert!(e.contains("[regions.kr.key]"), "{e}");
    let e = problem(with(|t| {
        t.replace("regions/kr.sqlite", "./regions/../regions/jp.sqlite")
    }));
    assert!(e.contains("[regions.kr.store]"), "{e}");
    let e = problem(with(|t| t.replace("regions/kr.sqlite", "node.sqlite")));
    assert!(e.contains("belongs to the node"), "{e}");
    let e = problem(with(|t| {
        t.replace("keys/region-kr.key", "./keys/user-token.key")
    }));
    assert!(
        e.contains("[regions.kr.key]") && e.contains("belongs to the node"),
        "{e}"
    );
    // Every file of the node's, not only the first ones it had.
    for own in ["staff/staff.sqlite", "ledger/regions.sqlite"] {
        let e = problem(with(|t| t.replace("regions/kr.sqlite", own)));
        assert!(e.contains("belongs to the node"), "{own}: {e}");
    }
    for own in ["keys/franking.key", "keys/delivery.key", "keys/blocks.key"] {
        let e = problem(with(|t| t.replace("keys/region-kr.key", own)));
        assert!(e.contains("belongs to the node"), "{own}: {e}");
    }
}

#[test]
fn own_country_must_be_listed_and_codes_checked() {
    let e = problem(with(|t| {
        t.replace("[regions.kr.access_from.KR", "[regions.kr.access_from.US")
    }));
    assert!(
        e.contains("[regions.kr.access_from]") || e.contains("access_from.US"),
        "{e}"
    );
    let e = problem(with(|t| {
        t.replace("country = \"KR\"", "country = \"Korea\"")
    }));
    assert!(e.contains("[regions.kr]"), "{e}");
}

#[test]
fn a_phone_gateway_is_declared_with_its_country_which_every_region_allows() {
    assert_eq!(Regions::embedded().phone_gateway, None);
    let gateway = |url: &str, token: &str, country: &str, operator: &str| {
        with(|t| {
            t.replace(
                "[regions.jp]",
                &format!(
                    "[phone_gateway]\nurl = \"{url}\"\ntoken_file = \"{token}\"\ncountry = \"{country}\"\noperator = \"{operator}\"\n\n[regions.jp]"
                ),
            )
        })
    };
    let r = gateway(
        "https://sms.example.jp/v1/send?x=1",
        "keys/./sms.token",
        "JP",
        "Example SMS K.K.",
    )
    .unwrap();
    let g = r.phone_gateway.unwrap();
    assert_eq!(g.host(), "sms.example.jp");
    assert_eq!(g.token_file, PathBuf::from("keys/sms.token"));
    assert_eq!(
        (g.country.as_str(), g.operator.as_str()),
        ("JP", "Example SMS K.K.")
    );

    // A gateway in a country some region does not allow would send its
    // people's numbers there undisclosed.
    let e = problem(gateway(
        "https://sms.example.com",
        "keys/sms.token",
        "US",
        "X",
    ));
    assert!(e.contains("phone_gateway.country"), "{e}");
    assert!(
        e.contains("region jp") && e.contains("access_from.US"),
        "{e}"
    );
    for (url, token, country, operator, place) in [
        (
            "sms.example.jp",
            "keys/sms.token",
            "JP",
            "X",
            "phone_gateway.url",
        ),
        (
            "ftp://sms.example.jp",
            "keys/sms.token",
            "JP",
            "X",
            "phone_gateway.url",
        ),
        (
            "http://sms.example.jp/send",
            "keys/sms.token",
            "JP",
            "X",
            "phone_gateway.url",
        ),
        (
            "https://user:pw@sms.example.jp/send",
            "keys/sms.token",
            "JP",
            "X",
            "phone_gateway.url",
        ),
        (
            "https://sms.example.jp",
            "node.sqlite",
            "JP",
            "X",
            "phone_gateway.token_file",
        ),
        (
            "https://sms.example.jp",
            "keys/sms.token",
            "jp",
            "X",
            "phone_gateway.country",
        ),
        (
            "https://sms.example.jp",
            "keys/sms.token",
            "JP",
            " ",
            "phone_gateway.operator",
        ),
    ] {
        let e = problem(gateway(url, token, country, operator));
        assert!(e.contains(place), "{url} {token} {country} {operator}: {e}");
    }
}
