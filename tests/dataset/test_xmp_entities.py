"""XMP values are XML: their entities are unescaped once (issue 15)."""

from __future__ import annotations

from terranb.dataset.xmp import parse_dji_xmp, xml_unescape


def test_entities_in_attribute_and_element_values() -> None:
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
              b'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
              b'drone-dji:Model="M3E &amp; RTK" drone-dji:Note="say &quot;hi&quot; &#x263A;">'
              b'<drone-dji:Site>A&lt;B&gt;&apos;C&#39;</drone-dji:Site>'
              b'</rdf:Description></rdf:RDF></x:xmpmeta>')
    xmp = parse_dji_xmp(packet)
    assert xmp.text("Model") == "M3E & RTK"
    assert xmp.text("Note") == 'say "hi" \u263a'
    assert xmp.text("Site") == "A<B>'C'"


def test_only_xml_entities_and_no_double_unescape() -> None:
    assert xml_unescape("&copy; 2024") == "&copy; 2024"
    assert xml_unescape("&amp;amp;") == "&amp;"
    assert xml_unescape("&#0; &#x110000;") == "&#0; &#x110000;"
