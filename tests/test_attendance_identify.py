"""Tying Zoom's participant records to people: registrant id, internal e-mail, unique names; staff; guests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from worker.core.attendance import Roster, audience, identify, merge_participants, normalise_name
from worker.core.model import ParticipantRecord, Recipient, Registrant

UTC = timezone.utc
T = datetime(2027, 1, 7, 1, 0, tzinfo=UTC)


def rec(name: str, email: str = "", *, rid: str = "", internal: bool = False, start: int = 0,
        minutes: int = 30) -> ParticipantRecord:
    return ParticipantRecord(name, email, "", T + timedelta(minutes=start), T + timedelta(minutes=start + minutes),
                             minutes * 60, registrant_id=rid, internal=internal)


def test_rejoins_through_the_personal_link_merge_by_registrant_id_whatever_the_display_name():
    rows = merge_participants([rec("iPhone Siti", "siti@x.org", rid="r1"), rec("Siti laptop", "siti@x.org", rid="r1",
                                                                               start=40, minutes=20)])
    assert len(rows) == 1 and rows[0].minutes == 50 and rows[0].joins == 2 and rows[0].registrant_id == "r1"


def test_registrant_internal_and_guest():
    roster = Roster(registrants=(Registrant("siti@x.org", "Siti Rahma", "r1"),
                                 Registrant("walk@x.org", "Tamu Baru", "r2")),
                    listed=(Recipient("siti@x.org", "Siti Rahma"),), staff=frozenset({"op@lib.example"}))
    rows = {a.name: a for a in identify(merge_participants([
        rec("iPhone Siti", "siti@x.org", rid="r1"), rec("HP", "walk@x.org", rid="r2"),
        rec("Peserta 08"), rec("Host", "host@lib.example", internal=True), rec("Operator", "op@lib.example")]),
        roster)}
    assert rows["iPhone Siti"].identified and rows["iPhone Siti"].registered_name == "Siti Rahma"
    assert rows["HP"].identified and rows["HP"].registered_name == "Tamu Baru"  # self-registered on the page
    assert not rows["Peserta 08"].identified and rows["Peserta 08"].registered_name == ""
    assert rows["Host"].staff and rows["Operator"].staff and not rows["iPhone Siti"].staff
    assert {a.name for a in audience(list(rows.values()))} == {"iPhone Siti", "HP", "Peserta 08"}


def test_one_person_found_twice_becomes_one_row():
    roster = Roster(registrants=(Registrant("siti@x.org", "Siti Rahma", "r1"),), match_names=False)
    rows = identify(merge_participants([rec("iPhone Siti", "siti@x.org", rid="r1"),
                                        rec("Siti", "siti@x.org", start=40, minutes=20)]), roster)
    assert len(rows) == 1 and rows[0].minutes == 50 and rows[0].joins == 2


def test_without_registration_a_unique_normalised_name_identifies_and_a_shared_one_does_not():
    listed = (Recipient("andi@x.org", "Andi Nurhayati, S.Pd."), Recipient("dewi@x.org", "Dewi Lestari"),
              Recipient("budi1@x.org", "Budi Santoso"), Recipient("budi2@x.org", "budi  santoso"))
    roster = Roster(listed=listed, match_names=True)
    rows = {a.name: a for a in identify(merge_participants([
        rec("ibu andi nurhayati"), rec("Dewi Lestari, M.Pd."), rec("Budi Santoso"), rec("iPhone")]), roster)}
    assert rows["ibu andi nurhayati"].email == "andi@x.org" and rows["ibu andi nurhayati"].identified
    assert rows["ibu andi nurhayati"].registered_name == "Andi Nurhayati, S.Pd."
    assert rows["Dewi Lestari, M.Pd."].email == "dewi@x.org"
    assert not rows["Budi Santoso"].identified  # two listed people share the name: a guess would be a lie
    assert not rows["iPhone"].identified


def test_names_are_not_matched_when_registration_is_on():
    roster = Roster(listed=(Recipient("dewi@x.org", "Dewi Lestari"),), match_names=False)
    assert not identify(merge_participants([rec("Dewi Lestari")]), roster)[0].identified


def test_normalise_name():
    assert normalise_name("Dr. Rahmat Hidayat, M.Hum.") == "rahmat hidayat"
    assert normalise_name("  IBU   Dewi  ") == "dewi"
    assert normalise_name("Andi Nurhayati S.Pd.") == "andi nurhayati"
    assert normalise_name("Kak Sari") == "sari" and normalise_name("Made Ani") == "made ani"
    assert normalise_name("Nur Aini, S.Pd.I") == "nur aini" and normalise_name("Hasanah S.H.") == "hasanah"
