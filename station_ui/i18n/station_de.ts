<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE" sourcelanguage="en">
  <context>
    <name>AlarmBanner</name>
    <message>
      <location filename="../widgets.py" line="367" />
      <source>Acknowledge (Ctrl+K)</source>
      <translation>Quittieren (Strg+K)</translation>
    </message>
  </context>
  <context>
    <name>Alarms</name>
    <message>
      <location filename="../bridge.py" line="28" />
      <source>Camera lost</source>
      <translation>Kamera verloren</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="29" />
      <source>PLC / reject output lost</source>
      <translation>SPS / Auswurfausgang verloren</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="30" />
      <source>Verdict database not writable</source>
      <translation>Prüfdatenbank nicht beschreibbar</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="31" />
      <source>Model missing or not loadable</source>
      <translation>Modell fehlt oder lässt sich nicht laden</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="32" />
      <source>Configuration error</source>
      <translation>Konfigurationsfehler</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="33" />
      <source>Fail-safe verdicts (parts not inspected)</source>
      <translation>Fail-safe-Urteile (Teile nicht geprüft)</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="34" />
      <source>Controller proposal waiting</source>
      <translation>Reglervorschlag wartet</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="35" />
      <source>Disk almost full</source>
      <translation>Festplatte fast voll</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="36" />
      <source>Image archive not writable</source>
      <translation>Bildarchiv nicht beschreibbar</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="37" />
      <source>Verdict log falling behind</source>
      <translation>Prüfprotokoll fällt zurück</translation>
    </message>
    <message>
      <location filename="../bridge.py" line="38" />
      <source>Station error</source>
      <translation>Stationsfehler</translation>
    </message>
  </context>
  <context>
    <name>CalibrationLabel</name>
    <message>
      <location filename="../measurement.py" line="36" />
      <source>{0}: not calibrated</source>
      <translation>{0}: nicht kalibriert</translation>
    </message>
    <message>
      <location filename="../measurement.py" line="38" />
      <source>{0}: calibrated {1} ({2:.4f} mm/px)</source>
      <translation>{0}: kalibriert {1} ({2:.4f} mm/px)</translation>
    </message>
    <message>
      <location filename="../measurement.py" line="41" />
      <source>Camera calibrations in {0} (station calibrate)</source>
      <translation>Kamerakalibrierungen in {0} (station calibrate)</translation>
    </message>
  </context>
  <context>
    <name>ControllerView</name>
    <message>
      <location filename="../controller_view.py" line="45" />
      <source>Created</source>
      <translation>Erstellt</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="45" />
      <source>Kind</source>
      <translation>Art</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="46" />
      <source>Status</source>
      <translation>Status</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="46" />
      <source>Changes</source>
      <translation>Änderungen</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="47" />
      <source>Why</source>
      <translation>Grund</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="47" />
      <source>Approver</source>
      <translation>Freigeber</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="83" />
      <source>Process controller: no data yet.</source>
      <translation>Prozessregler: noch keine Daten.</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="85" />
      <source>Parameters in force: —</source>
      <translation>Gültige Parameter: —</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="90" />
      <source>Proposals waiting for approval: 0</source>
      <translation>Vorschläge zur Freigabe: 0</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="94" />
      <source>reason (recorded with a rejection)</source>
      <translation>Begründung (wird bei Ablehnung gespeichert)</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="95" />
      <source>&amp;Approve (apply)</source>
      <translation>&amp;Freigeben (anwenden)</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="96" />
      <source>Apply the selected proposal to the process (Alt+A); engineers</source>
      <translation>Gewählten Vorschlag auf den Prozess anwenden (Alt+A); Ingenieure</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="98" />
      <source>Re&amp;ject</source>
      <translation>&amp;Ablehnen</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="99" />
      <source>Reject the selected proposal, nothing is written (Alt+J); engineers</source>
      <translation>Gewählten Vorschlag ablehnen, nichts wird geschrieben (Alt+J); Ingenieure</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="101" />
      <source>Re&amp;vert selected change</source>
      <translation>Gewählte Änderung &amp;zurücknehmen</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="102" />
      <source>Write back the values an applied change replaced (Alt+V); engineers</source>
      <translation>Die von einer Änderung ersetzten Werte zurückschreiben (Alt+V); Ingenieure</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="111" />
      <source>History of changes</source>
      <translation>Verlauf der Änderungen</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="138" />
      <source>Process controller: verdict database not available.</source>
      <translation>Prozessregler: Prüfdatenbank nicht verfügbar.</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="142" />
      <source>Process controller: not running on this station (no process tables in the log). Start it with `station controller`.</source>
      <translation>Prozessregler: läuft auf dieser Station nicht (keine Prozesstabellen im Protokoll). Starten mit `station controller`.</translation>
    </message>
    <message>
      <location filename="../controller_view.py" line="153" />
      <source>Parameters in force: </source>
      <translation>Gültige Parameter: </translation>
    </message>
  </context>
  <context>
    <name>CounterPanel</name>
    <message>
      <location filename="../widgets.py" line="269" />
      <source>Inspected</source>
      <translation>Geprüft</translation>
    </message>
    <message>
      <location filename="../widgets.py" line="270" />
      <source>Pass</source>
      <translation>i.O.</translation>
    </message>
    <message>
      <location filename="../widgets.py" line="270" />
      <source>Fail</source>
      <translation>n.i.O.</translation>
    </message>
    <message>
      <location filename="../widgets.py" line="271" />
      <source>Error</source>
      <translation>Fehler</translation>
    </message>
    <message>
      <location filename="../widgets.py" line="272" />
      <source>Yield</source>
      <translation>Ausbeute</translation>
    </message>
    <message>
      <location filename="../widgets.py" line="273" />
      <source>Parts/min</source>
      <translation>Teile/min</translation>
    </message>
  </context>
  <context>
    <name>FrameView</name>
    <message>
      <location filename="../widgets.py" line="76" />
      <source> ⌀{0:.2f} mm, L {1:.2f} mm</source>
      <translation> ⌀{0:.2f} mm, L {1:.2f} mm</translation>
    </message>
    <message>
      <location filename="../widgets.py" line="219" />
      <source>zone {0}</source>
      <translation>Zone {0}</translation>
    </message>
  </context>
  <context>
    <name>GraphicsScene</name>
    <message>
      <location filename="../i18n_extra.py" line="11" />
      <source>Export...</source>
      <translation>Exportieren…</translation>
    </message>
  </context>
  <context>
    <name>HistoryView</name>
    <message>
      <location filename="../history_view.py" line="44" />
      <source>Id</source>
      <translation>Nr.</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="44" />
      <source>Time</source>
      <translation>Zeit</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="108" />
      <location filename="../history_view.py" line="45" />
      <source>Part</source>
      <translation>Teil</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="107" />
      <location filename="../history_view.py" line="45" />
      <source>Verdict</source>
      <translation>Urteil</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="46" />
      <source>Override</source>
      <translation>Korrektur</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="46" />
      <source>Reasons</source>
      <translation>Gründe</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="47" />
      <source>Model</source>
      <translation>Modell</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="86" />
      <source>any</source>
      <translation>alle</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="93" />
      <source>part id contains…</source>
      <translation>Teilenummer enthält…</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="94" />
      <source>Search</source>
      <translation>Suchen</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="96" />
      <source>Export CSV…</source>
      <translation>CSV exportieren…</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="97" />
      <source>Override verdict…</source>
      <translation>Urteil korrigieren…</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="106" />
      <source>From</source>
      <translation>Von</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="106" />
      <source>to</source>
      <translation>bis</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="107" />
      <source>Class</source>
      <translation>Klasse</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="150" />
      <source>verdict database not available</source>
      <translation>Prüfdatenbank nicht verfügbar</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="176" />
      <source>{0} part(s)</source>
      <translation>{0} Teil(e)</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="177" />
      <source> (newest 500 shown)</source>
      <translation> (die neuesten 500)</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="228" />
      <source>exported {0} part(s) to {1}</source>
      <translation>{0} Teil(e) exportiert nach {1}</translation>
    </message>
  </context>
  <context>
    <name>LabelEditor</name>
    <message>
      <location filename="../label_editor.py" line="249" />
      <source>V select · B box · P polygon · Del delete · 1–9 class · Ctrl+S save</source>
      <translation>V Auswahl · B Rechteck · P Polygon · Entf löschen · 1–9 Klasse · Strg+S speichern</translation>
    </message>
    <message>
      <location filename="../label_editor.py" line="251" />
      <source>Select (V)</source>
      <translation>Auswählen (V)</translation>
    </message>
    <message>
      <location filename="../label_editor.py" line="251" />
      <source>Box (B)</source>
      <translation>Rechteck (B)</translation>
    </message>
    <message>
      <location filename="../label_editor.py" line="252" />
      <source>Polygon (P)</source>
      <translation>Polygon (P)</translation>
    </message>
    <message>
      <location filename="../label_editor.py" line="256" />
      <source>Save (Ctrl+S)</source>
      <translation>Speichern (Strg+S)</translation>
    </message>
    <message>
      <location filename="../label_editor.py" line="258" />
      <source>Class:</source>
      <translation>Klasse:</translation>
    </message>
  </context>
  <context>
    <name>LanguageMenu</name>
    <message>
      <location filename="../language_menu.py" line="18" />
      <source>Language</source>
      <translation>Sprache</translation>
    </message>
    <message>
      <location filename="../language_menu.py" line="19" />
      <source>Console language (applies at the next start)</source>
      <translation>Sprache der Konsole (gilt ab dem nächsten Start)</translation>
    </message>
    <message>
      <location filename="../language_menu.py" line="32" />
      <source>Language saved: the console uses it from its next start.</source>
      <translation>Sprache gespeichert: die Konsole verwendet sie ab dem nächsten Start.</translation>
    </message>
  </context>
  <context>
    <name>LoginDialog</name>
    <message>
      <location filename="../login.py" line="29" />
      <source>Log in</source>
      <translation>Anmelden</translation>
    </message>
    <message>
      <location filename="../login.py" line="33" />
      <source>No accounts yet: create the first one (it becomes the admin).</source>
      <translation>Noch keine Konten: das erste anlegen (es wird Administrator).</translation>
    </message>
    <message>
      <location filename="../login.py" line="39" />
      <source>User</source>
      <translation>Benutzer</translation>
    </message>
    <message>
      <location filename="../login.py" line="40" />
      <source>PIN / password</source>
      <translation>PIN / Passwort</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <source>Health (Ctrl+9)</source>
      <translation>Zustand (Strg+9)</translation>
    </message>
    <message>
      <source>baseline not set: the station database is not available</source>
      <translation>Basislinie nicht gesetzt: die Stationsdatenbank ist nicht verfügbar</translation>
    </message>
    <message>
      <source>baseline not set: {error}</source>
      <translation>Basislinie nicht gesetzt: {error}</translation>
    </message>
    <message>
      <source>health baseline set from the recent parts</source>
      <translation>Zustands-Basislinie aus den letzten Teilen gesetzt</translation>
    </message>
    <message>
      <source>not allowed: setting the health baseline needs an engineer</source>
      <translation>nicht erlaubt: die Zustands-Basislinie setzt nur ein Ingenieur</translation>
    </message>
    <message>
      <location filename="../window.py" line="1" />
      <source>Line (Ctrl+8)</source>
      <translation>Linie (Strg+8)</translation>
    </message>
    <message>
      <location filename="../window.py" line="62" />
      <source>IDLE</source>
      <translation>BEREIT</translation>
    </message>
    <message>
      <location filename="../window.py" line="63" />
      <source>STARTING</source>
      <translation>STARTET</translation>
    </message>
    <message>
      <location filename="../window.py" line="64" />
      <source>RUNNING</source>
      <translation>LÄUFT</translation>
    </message>
    <message>
      <location filename="../window.py" line="65" />
      <source>PAUSED</source>
      <translation>PAUSIERT</translation>
    </message>
    <message>
      <location filename="../window.py" line="66" />
      <source>STOPPED</source>
      <translation>GESTOPPT</translation>
    </message>
    <message>
      <location filename="../window.py" line="67" />
      <source>FINISHED</source>
      <translation>BEENDET</translation>
    </message>
    <message>
      <location filename="../window.py" line="68" />
      <source>ERROR</source>
      <translation>FEHLER</translation>
    </message>
    <message>
      <location filename="../window.py" line="108" />
      <source>Inspection station — {0}</source>
      <translation>Prüfstation — {0}</translation>
    </message>
    <message>
      <location filename="../window.py" line="109" />
      <source>no station</source>
      <translation>keine Station</translation>
    </message>
    <message>
      <location filename="../window.py" line="128" />
      <source>press Start (F5)</source>
      <translation>Start drücken (F5)</translation>
    </message>
    <message>
      <location filename="../window.py" line="140" />
      <source>Run</source>
      <translation>Betrieb</translation>
    </message>
    <message>
      <location filename="../window.py" line="460" />
      <location filename="../window.py" line="143" />
      <source>▶ Start (F5)</source>
      <translation>▶ Start (F5)</translation>
    </message>
    <message>
      <location filename="../window.py" line="144" />
      <source>‖ Pause (F6)</source>
      <translation>‖ Pause (F6)</translation>
    </message>
    <message>
      <location filename="../window.py" line="145" />
      <source>■ Stop (F7)</source>
      <translation>■ Stopp (F7)</translation>
    </message>
    <message>
      <location filename="../window.py" line="149" />
      <source> Recipe </source>
      <translation> Rezept </translation>
    </message>
    <message>
      <location filename="../window.py" line="158" />
      <source>Boxes (O)</source>
      <translation>Rahmen (O)</translation>
    </message>
    <message>
      <location filename="../window.py" line="160" />
      <source>Heat map (H)</source>
      <translation>Heatmap (H)</translation>
    </message>
    <message>
      <location filename="../window.py" line="162" />
      <source>Blend the anomaly model's heat map over the image (anomaly models only): blue = typical, yellow = the model's threshold, red = twice it</source>
      <translation>Heatmap des Anomaliemodells über das Bild legen (nur Anomaliemodelle): blau = typisch, gelb = Schwelle des Modells, rot = doppelte Schwelle</translation>
    </message>
    <message>
      <location filename="../window.py" line="165" />
      <source>Light theme (Ctrl+T)</source>
      <translation>Helles Design (Strg+T)</translation>
    </message>
    <message>
      <location filename="../window.py" line="172" />
      <source>Log in (Ctrl+L)</source>
      <translation>Anmelden (Strg+L)</translation>
    </message>
    <message>
      <location filename="../window.py" line="174" />
      <source>Log out</source>
      <translation>Abmelden</translation>
    </message>
    <message>
      <location filename="../window.py" line="175" />
      <source>Accounts…</source>
      <translation>Konten…</translation>
    </message>
    <message>
      <location filename="../window.py" line="208" />
      <source>Latest failures (click to inspect)</source>
      <translation>Letzte n.i.O.-Teile (anklicken zum Prüfen)</translation>
    </message>
    <message>
      <location filename="../window.py" line="228" />
      <source>Live (Ctrl+1)</source>
      <translation>Live (Strg+1)</translation>
    </message>
    <message>
      <location filename="../window.py" line="228" />
      <source>SPC (Ctrl+2)</source>
      <translation>SPC (Strg+2)</translation>
    </message>
    <message>
      <location filename="../window.py" line="229" />
      <source>History (Ctrl+3)</source>
      <translation>Verlauf (Strg+3)</translation>
    </message>
    <message>
      <location filename="../window.py" line="229" />
      <source>Review (Ctrl+4)</source>
      <translation>Prüfung (Strg+4)</translation>
    </message>
    <message>
      <location filename="../window.py" line="230" />
      <source>Controller (Ctrl+5)</source>
      <translation>Regler (Strg+5)</translation>
    </message>
    <message>
      <location filename="../window.py" line="231" />
      <source>Samples &amp;&amp; labels (Ctrl+6)</source>
      <translation>Stichproben &amp;&amp; Labels (Strg+6)</translation>
    </message>
    <message>
      <location filename="../window.py" line="232" />
      <source>Models (Ctrl+7)</source>
      <translation>Modelle (Strg+7)</translation>
    </message>
    <message>
      <location filename="../window.py" line="244" />
      <source>no database</source>
      <translation>keine Datenbank</translation>
    </message>
    <message>
      <location filename="../window.py" line="324" />
      <source>no station configuration loaded</source>
      <translation>keine Stationskonfiguration geladen</translation>
    </message>
    <message>
      <location filename="../window.py" line="355" />
      <source>stop the line before switching the recipe</source>
      <translation>vor dem Rezeptwechsel die Linie anhalten</translation>
    </message>
    <message>
      <location filename="../window.py" line="376" />
      <source>verdict database not available: override not stored</source>
      <translation>Prüfdatenbank nicht verfügbar: Korrektur nicht gespeichert</translation>
    </message>
    <message>
      <location filename="../window.py" line="403" />
      <source>accounts unavailable: the verdict database cannot be opened</source>
      <translation>Konten nicht verfügbar: die Prüfdatenbank lässt sich nicht öffnen</translation>
    </message>
    <message>
      <location filename="../window.py" line="431" />
      <source>not logged in</source>
      <translation>nicht angemeldet</translation>
    </message>
    <message>
      <location filename="../window.py" line="451" />
      <source>  display {0:.0f} fps · {1:.0f} parts/min · latency {2:.0f} ms (mean {3:.0f})  </source>
      <translation>  Anzeige {0:.0f} fps · {1:.0f} Teile/min · Latenz {2:.0f} ms (Mittel {3:.0f})  </translation>
    </message>
    <message>
      <location filename="../window.py" line="460" />
      <source>▶ Resume (F5)</source>
      <translation>▶ Fortsetzen (F5)</translation>
    </message>
    <message>
      <location filename="../window.py" line="487" />
      <source>Override verdict…</source>
      <translation>Urteil korrigieren…</translation>
    </message>
    <message>
      <location filename="../window.py" line="492" />
      <source>Heat map</source>
      <translation>Heatmap</translation>
    </message>
    <message>
      <location filename="../window.py" line="504" />
      <source>Failing windows by reference designator</source>
      <translation>Fehlerhafte Fenster nach Bauteilbezeichner</translation>
    </message>
  </context>
  <context>
    <name>ModelsView</name>
    <message>
      <location filename="../models_view.py" line="42" />
      <location filename="../models_view.py" line="38" />
      <source>Model</source>
      <translation>Modell</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="38" />
      <source>State</source>
      <translation>Zustand</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="39" />
      <source>Dataset version</source>
      <translation>Datensatzversion</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="39" />
      <source>Escape rate</source>
      <translation>Schlupfrate</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="40" />
      <source>False reject</source>
      <translation>Pseudofehler</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="40" />
      <source>Registered</source>
      <translation>Registriert</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="41" />
      <source>Time</source>
      <translation>Zeit</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="41" />
      <source>Action</source>
      <translation>Aktion</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="42" />
      <source>Previous</source>
      <translation>Vorher</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="43" />
      <source>By</source>
      <translation>Von</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="73" />
      <source>Model registry: not opened yet.</source>
      <translation>Modellregister: noch nicht geöffnet.</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="78" />
      <source>&amp;Refresh</source>
      <translation>&amp;Aktualisieren</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="81" />
      <source>Product</source>
      <translation>Produkt</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="221" />
      <location filename="../models_view.py" line="88" />
      <source>Promotion gate: select a model</source>
      <translation>Freigabeprüfung: ein Modell wählen</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="96" />
      <source>&amp;Promote to production</source>
      <translation>In die &amp;Produktion übernehmen</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="98" />
      <source>Promote the selected model (Alt+P); the core checks your role and the gate</source>
      <translation>Gewähltes Modell übernehmen (Alt+P); geprüft werden Ihre Rolle und die Freigabekriterien</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="100" />
      <source>Roll &amp;back to previous</source>
      <translation>&amp;Zurück zum vorherigen</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="101" />
      <source>Put back the product's previous production model (Alt+B)</source>
      <translation>Das vorherige Produktionsmodell des Produkts wiederherstellen (Alt+B)</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="121" />
      <source>Registry history of this product (newest first)</source>
      <translation>Registerverlauf dieses Produkts (neueste zuerst)</translation>
    </message>
    <message>
      <location filename="../models_view.py" line="141" />
      <source>Model registry: none here yet. Register models with `station models register MODEL --product P` (the station's registry folder).</source>
      <translation>Modellregister: hier noch keines. Modelle registrieren mit `station models register MODELL --product P` (Registerordner der Station).</translation>
    </message>
  </context>
  <context>
    <name>OverrideDialog</name>
    <message>
      <location filename="../history_view.py" line="57" />
      <source>Current verdict</source>
      <translation>Aktuelles Urteil</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="61" />
      <source>Why is the verdict wrong? (kept for the review queue)</source>
      <translation>Warum ist das Urteil falsch? (für die Prüfliste gespeichert)</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="63" />
      <source>New verdict</source>
      <translation>Neues Urteil</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="64" />
      <source>Reason</source>
      <translation>Begründung</translation>
    </message>
  </context>
  <context>
    <name>PlotItem</name>
    <message>
      <location filename="../i18n_extra.py" line="13" />
      <source>Plot Options</source>
      <translation>Diagrammoptionen</translation>
    </message>
  </context>
  <context>
    <name>ReviewPanel</name>
    <message>
      <location filename="../review_panel.py" line="36" />
      <source>id</source>
      <translation>Nr.</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="36" />
      <source>reason</source>
      <translation>Grund</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="37" />
      <source>value</source>
      <translation>Wert</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="37" />
      <source>verdict</source>
      <translation>Urteil</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="38" />
      <source>part key</source>
      <translation>Teil</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="38" />
      <source>time</source>
      <translation>Zeit</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="63" />
      <source>Accept (A)</source>
      <translation>Annehmen (A)</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="63" />
      <source>Reject (R)</source>
      <translation>Ablehnen (R)</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="64" />
      <source>Relabel: save edits (Ctrl+S)</source>
      <translation>Neu labeln: Änderungen speichern (Strg+S)</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="65" />
      <source>Golden (G)</source>
      <translation>Referenz (G)</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="65" />
      <source>Refresh</source>
      <translation>Aktualisieren</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="66" />
      <source>Build dataset and train…</source>
      <translation>Datensatz erstellen und trainieren…</translation>
    </message>
    <message>
      <location filename="../review_panel.py" line="114" />
      <source>{0} samples waiting for review</source>
      <translation>{0} Stichproben warten auf Prüfung</translation>
    </message>
  </context>
  <context>
    <name>ReviewView</name>
    <message>
      <location filename="../history_view.py" line="240" />
      <source>Override</source>
      <translation>Korrektur</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="240" />
      <source>Part #</source>
      <translation>Teil-Nr.</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="240" />
      <source>By</source>
      <translation>Von</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="240" />
      <source>Time</source>
      <translation>Zeit</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="241" />
      <source>Was</source>
      <translation>Vorher</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="241" />
      <source>Now</source>
      <translation>Jetzt</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="241" />
      <source>Reason</source>
      <translation>Begründung</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="247" />
      <source>review note</source>
      <translation>Prüfvermerk</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="248" />
      <source>Approve</source>
      <translation>Freigeben</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="249" />
      <source>Reject</source>
      <translation>Ablehnen</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="255" />
      <source>Overrides waiting for review (engineers approve or reject)</source>
      <translation>Korrekturen zur Prüfung (Ingenieure geben frei oder lehnen ab)</translation>
    </message>
    <message>
      <location filename="../history_view.py" line="277" />
      <source>{0} waiting · checked {1}</source>
      <translation>{0} wartend · geprüft {1}</translation>
    </message>
  </context>
  <context>
    <name>Runner</name>
    <message>
      <location filename="../runner.py" line="65" />
      <source>opening cameras and model</source>
      <translation>Kameras und Modell werden geöffnet</translation>
    </message>
    <message>
      <location filename="../runner.py" line="123" />
      <source>recipe {0}</source>
      <translation>Rezept {0}</translation>
    </message>
    <message>
      <location filename="../runner.py" line="130" />
      <source>source ended after {0} parts</source>
      <translation>Quelle nach {0} Teilen beendet</translation>
    </message>
  </context>
  <context>
    <name>SpcView</name>
    <message>
      <location filename="../spc_view.py" line="49" />
      <source>last hour</source>
      <translation>letzte Stunde</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="50" />
      <source>this shift (8 h)</source>
      <translation>diese Schicht (8 h)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="51" />
      <source>last 24 h</source>
      <translation>letzte 24 h</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="51" />
      <source>all</source>
      <translation>alles</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="71" />
      <source>p-chart (failed fraction)</source>
      <translation>p-Karte (Anteil n.i.O.)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="72" />
      <source>u-chart (defects per part)</source>
      <translation>u-Karte (Fehler je Teil)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="77" />
      <source>subgroup </source>
      <translation>Stichprobe </translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="78" />
      <source> parts</source>
      <translation> Teile</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="79" />
      <source>Frozen limits</source>
      <translation>Eingefrorene Grenzen</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="81" />
      <source>Judge the points against the limits frozen from a baseline (Phase II); off: limits from the data shown</source>
      <translation>Punkte gegen die aus einer Referenzperiode eingefrorenen Grenzen bewerten (Phase II); aus: Grenzen aus den angezeigten Daten</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="84" />
      <source>Freeze limits from this span</source>
      <translation>Grenzen aus diesem Zeitraum einfrieren</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="85" />
      <source>Phase I: compute the centre line from the span shown (the baseline) and keep it for every later point</source>
      <translation>Phase I: Mittellinie aus dem angezeigten Zeitraum (Referenz) berechnen und für alle späteren Punkte beibehalten</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="88" />
      <source>Refresh (F5 in this tab)</source>
      <translation>Aktualisieren (F5 in diesem Reiter)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="90" />
      <source>Export PNG…</source>
      <translation>PNG exportieren…</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="92" />
      <source>Export CSV…</source>
      <translation>CSV exportieren…</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="95" />
      <source>Span</source>
      <translation>Zeitraum</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="217" />
      <location filename="../spc_view.py" line="100" />
      <source>p-chart: fraction of failed parts per subgroup</source>
      <translation>p-Karte: Anteil n.i.O.-Teile je Stichprobe</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="219" />
      <location filename="../spc_view.py" line="102" />
      <source>failed fraction</source>
      <translation>Anteil n.i.O.</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="103" />
      <source>subgroup start</source>
      <translation>Beginn der Stichprobe</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="105" />
      <source>Pareto of defect classes (line: cumulative share)</source>
      <translation>Pareto der Fehlerklassen (Linie: kumulierter Anteil)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="106" />
      <source>defects</source>
      <translation>Fehler</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="107" />
      <source>Defects per part, per class</source>
      <translation>Fehler je Teil, je Klasse</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="219" />
      <location filename="../spc_view.py" line="108" />
      <source>defects / part</source>
      <translation>Fehler / Teil</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="133" />
      <source>verdict database not available</source>
      <translation>Prüfdatenbank nicht verfügbar</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="152" />
      <source>p̄ = {0:.3f}</source>
      <translation>p̄ = {0:.3f}</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="152" />
      <source>ū = {0:.3f}</source>
      <translation>ū = {0:.3f}</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="154" />
      <source>limits frozen {0} from {1} parts ({2} … {3})</source>
      <translation>Grenzen eingefroren {0} aus {1} Teilen ({2} … {3})</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="159" />
      <source>limits from the data shown (not frozen)</source>
      <translation>Grenzen aus den angezeigten Daten (nicht eingefroren)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="160" />
      <source>{0} parts, {1}, {2} subgroup(s) out of control; {3}</source>
      <translation>{0} Teile, {1}, {2} Stichprobe(n) außer Kontrolle; {3}</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="181" />
      <source>Export chart</source>
      <translation>Karte exportieren</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="218" />
      <source>u-chart: counted defects per part, per subgroup</source>
      <translation>u-Karte: gezählte Fehler je Teil, je Stichprobe</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="226" />
      <source>centre p̄</source>
      <translation>Mittellinie p̄</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="226" />
      <source>centre ū</source>
      <translation>Mittellinie ū</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="229" />
      <source>UCL / LCL</source>
      <translation>OEG / UEG</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="234" />
      <source>rule broken (Nelson 1–8)</source>
      <translation>Regel verletzt (Nelson 1–8)</translation>
    </message>
    <message>
      <location filename="../spc_view.py" line="244" />
      <source>Nelson rules broken here: {0}</source>
      <translation>Hier verletzte Nelson-Regeln: {0}</translation>
    </message>
  </context>
  <context>
    <name>TrainDialog</name>
    <message>
      <location filename="../train_dialog.py" line="40" />
      <source>Build dataset and train a candidate model</source>
      <translation>Datensatz erstellen und ein Kandidatenmodell trainieren</translation>
    </message>
    <message>
      <location filename="../train_dialog.py" line="52" />
      <source>Reviewed samples become a frozen dataset version, then a candidate model.</source>
      <translation>Geprüfte Stichproben werden zu einer eingefrorenen Datensatzversion, dann zu einem Kandidatenmodell.</translation>
    </message>
    <message>
      <location filename="../train_dialog.py" line="53" />
      <source>Start</source>
      <translation>Start</translation>
    </message>
    <message>
      <location filename="../train_dialog.py" line="54" />
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
  </context>
  <context>
    <name>UsersDialog</name>
    <message>
      <location filename="../login.py" line="67" />
      <source>Accounts</source>
      <translation>Konten</translation>
    </message>
    <message>
      <location filename="../login.py" line="75" />
      <source>Add account</source>
      <translation>Konto hinzufügen</translation>
    </message>
    <message>
      <location filename="../login.py" line="78" />
      <source>User</source>
      <translation>Benutzer</translation>
    </message>
    <message>
      <location filename="../login.py" line="79" />
      <source>Role</source>
      <translation>Rolle</translation>
    </message>
    <message>
      <location filename="../login.py" line="80" />
      <source>PIN / password</source>
      <translation>PIN / Passwort</translation>
    </message>
  </context>
  <context>
    <name>VerdictIndicator</name>
    <message>
      <location filename="../widgets.py" line="247" />
      <source>no part yet</source>
      <translation>noch kein Teil</translation>
    </message>
  </context>
  <context>
    <name>ViewBox</name>
    <message>
      <location filename="../i18n_extra.py" line="12" />
      <source>View All</source>
      <translation>Alles anzeigen</translation>
    </message>
  </context>
  <context>
    <name>LineView</name>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Station</source>
      <translation>Station</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Parts</source>
      <translation>Teile</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Yield</source>
      <translation>Ausbeute</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Parts/min</source>
      <translation>Teile/min</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Alarms</source>
      <translation>Alarme</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Model</source>
      <translation>Modell</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Recipe</source>
      <translation>Rezept</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Last seen</source>
      <translation>Zuletzt gesehen</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>Health</source>
      <translation>Zustand</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>no central store configured (central: in the station YAML)</source>
      <translation>kein zentraler Speicher konfiguriert (central: in der Stations-YAML)</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>reading the central store…</source>
      <translation>lese den zentralen Speicher…</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source>{n} stations in the central store</source>
      <translation>{n} Stationen im zentralen Speicher</translation>
    </message>
    <message>
      <location filename="../line_view.py" line="1" />
      <source> (offline)</source>
      <translation> (offline)</translation>
    </message>
  </context>
  <context>
    <name>ViewsStrip</name>
    <message>
      <location filename="../views_strip.py" line="1" />
      <source>{n} views of this part</source>
      <translation>{n} Ansichten dieses Teils</translation>
    </message>
  </context>
  <context>
    <name>HealthView</name>
    <message>
      <source>(no data)</source>
      <translation>(keine Daten)</translation>
    </message>
    <message>
      <source>Learn each signal's level from the recent parts; drift is judged against it. Engineers only; audited.</source>
      <translation>Das Niveau jedes Signals aus den letzten Teilen lernen; Drift wird daran gemessen. Nur Ingenieure; protokolliert.</translation>
    </message>
    <message>
      <source>Set baseline (known-good now)</source>
      <translation>Basislinie setzen (jetzt bekannt gut)</translation>
    </message>
    <message>
      <source>health: no station running</source>
      <translation>Zustand: keine Station aktiv</translation>
    </message>
    <message>
      <source>health: {state} ({parts} parts)</source>
      <translation>Zustand: {state} ({parts} Teile)</translation>
    </message>
    <message>
      <source>part</source>
      <translation>Teil</translation>
    </message>
    <message>
      <source>part {part} {severity}: {message}</source>
      <translation>Teil {part} {severity}: {message}</translation>
    </message>
  </context>
  <context>
    <name>AlarmKind</name>
    <message>
      <source>Camera lost</source>
      <translation>Kamera verloren</translation>
    </message>
    <message>
      <source>Camera lost (reconnecting)</source>
      <translation>Kamera verloren (verbindet neu)</translation>
    </message>
    <message>
      <source>PLC / reject output lost</source>
      <translation>SPS / Auswurfausgang verloren</translation>
    </message>
    <message>
      <source>PLC connection lost</source>
      <translation>SPS-Verbindung verloren</translation>
    </message>
    <message>
      <source>PLC refused a write</source>
      <translation>SPS hat einen Schreibzugriff abgelehnt</translation>
    </message>
    <message>
      <source>PLC heartbeat stopped</source>
      <translation>SPS-Lebenszeichen ausgeblieben</translation>
    </message>
    <message>
      <source>Job change refused</source>
      <translation>Auftragswechsel abgelehnt</translation>
    </message>
    <message>
      <source>Verdict database not writable</source>
      <translation>Urteilsdatenbank nicht beschreibbar</translation>
    </message>
    <message>
      <source>Verdict database unavailable: verdicts spooled</source>
      <translation>Urteilsdatenbank nicht verfügbar: Urteile zwischengespeichert</translation>
    </message>
    <message>
      <source>Verdict spool full: line stopped</source>
      <translation>Urteilspuffer voll: Linie angehalten</translation>
    </message>
    <message>
      <source>Verdict log falling behind</source>
      <translation>Urteilsprotokoll hängt hinterher</translation>
    </message>
    <message>
      <source>Image archive not writable</source>
      <translation>Bildarchiv nicht beschreibbar</translation>
    </message>
    <message>
      <source>Disk almost full</source>
      <translation>Festplatte fast voll</translation>
    </message>
    <message>
      <source>Review samples not writable</source>
      <translation>Prüfmuster nicht beschreibbar</translation>
    </message>
    <message>
      <source>Station stage failed</source>
      <translation>Stationsstufe ausgefallen</translation>
    </message>
    <message>
      <source>Station stopped safely</source>
      <translation>Station sicher angehalten</translation>
    </message>
    <message>
      <source>Model missing or not loadable</source>
      <translation>Modell fehlt oder nicht ladbar</translation>
    </message>
    <message>
      <source>Configuration error</source>
      <translation>Konfigurationsfehler</translation>
    </message>
    <message>
      <source>Fail-safe verdicts (parts not inspected)</source>
      <translation>Fail-safe-Urteile (Teile nicht geprüft)</translation>
    </message>
    <message>
      <source>Controller proposal waiting</source>
      <translation>Reglervorschlag wartet</translation>
    </message>
    <message>
      <source>Station error</source>
      <translation>Stationsfehler</translation>
    </message>
  </context>
  <context>
    <name>ModelReloader</name>
    <message>
      <location filename="../model_reload.py" line="1" />
      <source>Reload model</source>
      <translation>Modell neu laden</translation>
    </message>
    <message>
      <location filename="../model_reload.py" line="1" />
      <source>Load the recipe's model again (with the central registry: the line's production model); only while the line is stopped or paused</source>
      <translation>Das Modell des Rezepts neu laden (mit zentraler Registry: das Produktionsmodell der Linie); nur bei gestoppter oder pausierter Linie</translation>
    </message>
    <message>
      <location filename="../model_reload.py" line="1" />
      <source>the station is not open: Start loads the recipe's current model</source>
      <translation>die Station ist nicht geöffnet: Start lädt das aktuelle Modell des Rezepts</translation>
    </message>
    <message>
      <location filename="../model_reload.py" line="1" />
      <source>a model reload is already in progress</source>
      <translation>das Modell wird bereits neu geladen</translation>
    </message>
    <message>
      <location filename="../model_reload.py" line="1" />
      <source>model not reloaded: {0}</source>
      <translation>Modell nicht neu geladen: {0}</translation>
    </message>
    <message>
      <location filename="../model_reload.py" line="1" />
      <source>model reloaded: {0}</source>
      <translation>Modell neu geladen: {0}</translation>
    </message>
  </context>
  <context>
    <name>LiveViewsStrip</name>
    <message>
      <location filename="../live_views.py" line="1" />
      <source>Newest part: waiting for its views</source>
      <translation>Neuestes Teil: warte auf seine Ansichten</translation>
    </message>
    <message>
      <location filename="../live_views.py" line="1" />
      <source>{0}: waiting</source>
      <translation>{0}: warte</translation>
    </message>
    <message>
      <location filename="../live_views.py" line="1" />
      <source>Part {0}: {1} views, part verdict {2}</source>
      <translation>Teil {0}: {1} Ansichten, Teilergebnis {2}</translation>
    </message>
    <message>
      <location filename="../live_views.py" line="1" />
      <source>Part {0}: {1} of {2} views</source>
      <translation>Teil {0}: {1} von {2} Ansichten</translation>
    </message>
  </context>
</TS>