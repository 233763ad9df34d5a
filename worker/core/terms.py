"""The words the series' artefacts use for the same things: one vocabulary for the report and the sheets.

The season report and the Google Sheets tabs are read by the office head and stay in
Indonesian whatever language the command line speaks, so these are plain constants, not
catalog messages. Each figure has one name everywhere ("Narasumber", never "Pembicara"), in
the natural Indonesian a librarian would write on a form.
"""
from __future__ import annotations

DATE = "Tanggal"  # the session date
TOPIC = "Topik"  # the session's title
SPEAKER = "Narasumber"  # who speaks (never "Pembicara")
INVITED = "Diundang"  # people an invitation was sent to
REGISTERED = "Terdaftar"  # people registered on Zoom
ATTENDED = "Hadir"  # attendees of one session
IDENTIFIED = "Teridentifikasi"  # attendees tied to a known person
GUESTS = "Tamu"  # attendees nobody could be tied to
AVERAGE_MINUTES = "Rata-rata lama hadir (menit)"  # mean minutes per attendance
SESSIONS_HELD = "Sesi terlaksana"  # sessions that took place with known attendance
TOTAL_ATTENDANCE = "Total kehadiran"  # attendances summed (one person twice counts twice)
UNIQUE_PEOPLE = "Jumlah peserta (tanpa ganda)"  # different people over the season
RETURNING = "Hadir lebih dari sekali"  # people who came to two sessions or more
REGISTERED_NAME = "Nama terdaftar"  # the name a person registered with
ZOOM_NAME = "Nama di Zoom"  # the display name Zoom showed
EMAIL = "Email"  # the address
FIRST_JOIN = "Masuk pertama"  # first join
LAST_LEAVE = "Keluar terakhir"  # last leave
MINUTES_ATTENDED = "Lama hadir (menit)"  # one person's minutes in one session
JOINS = "Berapa kali masuk"  # how many times one person joined one session
ROLE = "Peran"  # audience or staff
CANCELLED = "dibatalkan"  # a session that did not take place
WAITING_FOR_DATA = "menunggu data"  # a session whose attendance is not in yet

# Words an earlier version used; the tests check the report and the sheets never show them again.
RETIRED = ("Pembicara", "Peserta unik", "Peserta yang kembali", "Jumlah masuk")

SESSION_COLUMNS = (REGISTERED_NAME, ZOOM_NAME, EMAIL, FIRST_JOIN, LAST_LEAVE, MINUTES_ATTENDED, JOINS, IDENTIFIED,
                   ROLE)  # a session's tab, left to right
SUMMARY_COLUMNS = (DATE, TOPIC, SPEAKER, INVITED, ATTENDED, AVERAGE_MINUTES, REGISTERED, IDENTIFIED,
                   GUESTS)  # the summary tab, left to right (registration's counts last, as before)
