//! Camelyon16 annotations: ASAP XML and the original's JSON, round trips, labels, rasters.

use histo_wsi::{Annotations, Polygon};

/// A Camelyon16-style ASAP file (as the challenge distributes them): groups `_0`, `_1`, `_2`
/// and `Tumor`, plus one annotation of an unrelated group that must be ignored.
const XML: &str = r##"<?xml version="1.0"?>
<ASAP_Annotations>
	<Annotations>
		<Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="_0" Color="#F4FA58">
			<Coordinates>
				<Coordinate Order="0" X="100.5" Y="100" />
				<Coordinate Order="1" X="300" Y="100" />
				<Coordinate Order="2" X="300" Y="301.5" />
				<Coordinate Order="3" X="100" Y="300" />
			</Coordinates>
		</Annotation>
		<Annotation Name="Annotation 1" Type="Spline" PartOfGroup="_2" Color="#64FE2E">
			<Coordinates>
				<Coordinate Order="0" X="150" Y="150" />
				<Coordinate Order="1" X="200" Y="150" />
				<Coordinate Order="2" X="200" Y="200" />
				<Coordinate Order="3" X="150" Y="200" />
			</Coordinates>
		</Annotation>
		<Annotation Name="Tumour &amp; more" Type="Polygon" PartOfGroup="Tumor" Color="#F4FA58">
			<Coordinates>
				<Coordinate Order="0" X="1000" Y="1000" />
				<Coordinate Order="1" X="1200" Y="1000" />
				<Coordinate Order="2" X="1100" Y="1200" />
			</Coordinates>
		</Annotation>
		<Annotation Name="other" Type="Polygon" PartOfGroup="Exclusion" Color="#000000">
			<Coordinates>
				<Coordinate Order="0" X="0" Y="0" />
				<Coordinate Order="1" X="10" Y="0" />
				<Coordinate Order="2" X="10" Y="10" />
			</Coordinates>
		</Annotation>
	</Annotations>
	<AnnotationGroups />
</ASAP_Annotations>
"##;

#[test]
fn asap_xml_groups_and_labels() {
    let a = Annotations::parse_asap_xml(XML, "t.xml".as_ref()).unwrap();
    assert_eq!(a.positive.len(), 2);
    assert_eq!(a.negative.len(), 1);
    assert_eq!(a.positive[0].name, "Annotation 0");
    assert_eq!(a.positive[0].vertices[0], [100.5, 100.0]);
    assert_eq!(a.positive[1].name, "Tumour & more");
    // label rule: inside any positive polygon; negative polygons do not change the label
    assert!(a.is_positive(200.0, 250.0));
    assert!(a.is_positive(175.0, 175.0)); // inside the _2 polygon too
    assert!(a.is_positive(1100.0, 1100.0));
    assert!(!a.is_positive(500.0, 500.0));
    assert!(!a.is_positive(5.0, 2.0)); // only in the ignored group
}

#[test]
fn json_matches_the_original_converter() {
    // camelyon16xml2json: vertices round()ed (ties to even: 100.5 -> 100, 301.5 -> 302),
    // indent 1, keys positive/negative, each {"name", "vertices"}.
    let a = Annotations::parse_asap_xml(XML, "t.xml".as_ref()).unwrap();
    let j = a.to_json();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(
        v["positive"][0]["vertices"][0],
        serde_json::json!([100, 100])
    );
    assert_eq!(
        v["positive"][0]["vertices"][2],
        serde_json::json!([300, 302])
    );
    assert_eq!(v["negative"][0]["name"], "Annotation 1");
    assert!(j.starts_with("{\n \"positive\": [\n  {"), "{j}");
    // JSON round trip (integers stay integers)
    let back = Annotations::parse_json(&j, "t.json".as_ref()).unwrap();
    assert_eq!(back.to_json(), j);
    assert_eq!(back.positive[0].vertices[2], [300.0, 302.0]);
}

#[test]
fn xml_and_json_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = Annotations {
        positive: vec![Polygon {
            name: "T <1>".into(),
            group: None,
            vertices: vec![[0.25, 1.0], [10.0, 1.5], [5.0, 9.75]],
        }],
        negative: vec![Polygon {
            name: "hole".into(),
            group: None,
            vertices: vec![[4.0, 3.0], [6.0, 3.0], [5.0, 5.0]],
        }],
    };
    let x = dir.path().join("a.xml");
    a.write_asap_xml(&x).unwrap();
    let b = Annotations::read_asap_xml(&x).unwrap();
    assert_eq!(b.positive[0].name, "T <1>");
    assert_eq!(b.positive[0].vertices, a.positive[0].vertices);
    assert_eq!(b.negative[0].vertices, a.negative[0].vertices);
    assert_eq!(b.positive[0].group.as_deref(), Some("Tumor"));
    assert_eq!(b.negative[0].group.as_deref(), Some("_2"));
    let j = dir.path().join("a.json");
    b.write_json(&j).unwrap();
    let c = Annotations::read_json(&j).unwrap();
    assert_eq!(
        c.positive[0].vertices,
        vec![[0.0, 1.0], [10.0, 2.0], [5.0, 10.0]]
    );
}

#[test]
fn raster_at_a_level() {
    let a = Annotations::parse_asap_xml(XML, "t.xml".as_ref()).unwrap();
    // level with downsample 10: 130 x 130 pixels cover 1300 level-0 pixels
    let m = a.rasterize(130, 130, 10.0);
    let at = |x: usize, y: usize| m[y * 130 + x];
    assert_eq!(at(20, 20), 1); // (205, 205) in the _0 square
    assert_eq!(at(17, 17), 0); // (175, 175) in the _2 hole
    assert_eq!(at(110, 105), 1); // (1105, 1055) in the Tumor triangle
    assert_eq!(at(60, 60), 0);
    let ones = m.iter().filter(|&&v| v == 1).count();
    // square 20x20 cells minus hole 5x5, triangle ~ 20*20/2 cells
    assert!((350..=600).contains(&ones), "{ones}");
}
