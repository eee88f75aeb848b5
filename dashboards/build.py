#!/usr/bin/env python3
"""Builds the Grafana dashboards in this folder (run it after editing; the
JSON files are committed, importable as-is). Every query uses only metrics
listed in docs/metrics.md; the end-to-end test runs each one against a real
Prometheus and requires data.

    python3 dashboards/build.py [--runbook-url URL] [--out DIR]

Without --out, it rewrites the committed dashboards and
deploy/prometheus/dashboard-queries.json (the queries the promtool value
tests check); it then accepts only the default values, which the committed
files carry. With --out, it writes the seven dashboards to DIR with the
dashboards' "Runbook" link pointing at --runbook-url (your copy of
docs/runbook.md; the rules generator deploy/prometheus/build.py takes the
same flag for the alerts' runbook_url).
"""
import argparse
import json
import os
import re
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
# The default runbook base URL, --runbook-url (the rules' copy: deploy/prometheus/build.py).
RUNBOOK = "https://github.com/ivanti-exporter/ivanti-exporter/blob/main/docs/runbook.md"
# Appliance detail link from a table cell holding a target (and its job).
DETAIL_LINK = [{"title": "Appliance detail", "url": "/d/ivanti-appliance-detail?var-job=${__data.fields.job}&var-target=${__value.raw}&${__url_time_range}"}]
SEL = 'job=~"$job", target=~"$target"'


class Board:
    # The dashboards' "Runbook" link (main() sets it from --runbook-url).
    runbook = RUNBOOK

    def __init__(self, uid, title, description, tags=("ics",)):
        self.uid, self.title, self.description, self.tags = uid, title, description, ["ivanti", *tags]
        self.panels, self.y, self.x, self.row_h, self.next_id = [], 0, 0, 0, 1

    def row(self, title):
        self.newline()
        self.panels.append({"type": "row", "title": title, "id": self.next_id, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.next_id += 1
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_h
            self.x, self.row_h = 0, 0

    def panel(self, kind, title, description, targets, w=12, h=8, unit=None, options=None, field=None,
              transformations=None, links=None, overrides=None):
        if self.x + w > 24:
            self.newline()
        # Every panel has a unit: counts are "short" unless told otherwise.
        defaults = {"unit": unit or "short"}
        if field:
            defaults.update(field)
        p = {
            "id": self.next_id, "type": kind, "title": title, "description": description, "datasource": DS,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
            "targets": [dict({"datasource": DS, "refId": chr(65 + i)}, **t) for i, t in enumerate(targets)],
            "fieldConfig": {"defaults": defaults, "overrides": [
                {"matcher": {"id": "byName", "options": "target"}, "properties": [{"id": "links", "value": links}]}] if links else []},

            "options": options or {},
        }
        if overrides:
            p["fieldConfig"]["overrides"] += overrides
        if transformations:
            p["transformations"] = transformations
        self.panels.append(p)
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)

    def json(self, variables):
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "id": None,
            "tags": self.tags, "timezone": "", "schemaVersion": 39, "version": 1, "editable": True,
            "refresh": "30s", "time": {"from": "now-6h", "to": "now"}, "graphTooltip": 1,
            "templating": {"list": variables}, "panels": self.panels, "annotations": {"list": ANNOTATIONS},
            "links": [{"title": "Runbook", "url": Board.runbook,
                       "type": "link", "targetBlank": True}],
        }


def q(expr, legend="", instant=False, fmt=None):
    t = {"expr": expr, "legendFormat": legend}
    if instant:
        t["instant"] = True
        t["range"] = False
    if fmt:
        t["format"] = fmt
    return t


def var_ds():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0}


def var_query(name, label, query, multi=True, include_all=True, all_value=".+"):
    v = {"name": name, "label": label, "type": "query", "datasource": DS,
         "query": {"query": query, "refId": name}, "definition": query, "refresh": 2, "sort": 1,
         "multi": multi, "includeAll": include_all, "current": {}, "hide": 0}
    if all_value is not None:
        v["allValue"] = all_value
    return v


# Static labels of the operators' targets (README: `labels: { site: fra }`):
# a multi-value filter that narrows the target list. "All" of $target then
# expands to the targets of the chosen sites (no allValue), so panels need no
# site matcher and series without a site label still show under "All".
SITE = var_query("site", "Site", "label_values(ivanti_up, site)", all_value=".*")
# Cluster identity: the cluster_name of ivanti_cluster_info, or the target on a
# stand-alone box (recording rule in deploy/prometheus/ivanti-exporter.rules.yml).
CLUSTER = "on (job, target) group_left (cluster_name) ivanti:target_cluster:info"
# Static target labels that, with cluster_name, identify a cluster: two
# clusters of the same name at two sites are two (the rules' copy:
# deploy/prometheus/build.py --cluster-labels, default site). CL goes before
# cluster_name in a `by (...)` list; CL_LEGEND before {{cluster_name}}.
CLUSTER_LABELS = ["site"]
CL = "".join(f"{label}, " for label in CLUSTER_LABELS)
CL_LEGEND = "".join(f"{{{{{label}}}}} " for label in CLUSTER_LABELS)
ANNOTATIONS = [
    {"name": "VIP failovers", "datasource": DS, "enable": True, "iconColor": "orange",
     # Owners per VIP of one cluster (identity: CLUSTER_LABELS and
     # cluster_name): two clusters, or two sites, each with its own owner of a
     # VIP of the same name are no failover.
     "expr": f'count by (job, {CL}cluster_name, vip) (count by (job, {CL}cluster_name, vip, owner) ('
             f'count_over_time(ivanti_cluster_vip_owner_info{{job=~"$job"}}[2m]) * {CLUSTER})) > 1',
     "step": "1m", "titleFormat": "VIP {{vip}} failover: " + CL_LEGEND + "{{cluster_name}}",
     "textFormat": "A virtual IP changed owner"},
    {"name": "Exporter reloads", "datasource": DS, "enable": True, "iconColor": "blue",
     "expr": 'changes(ivanti_exporter_config_last_reload_success_timestamp_seconds{job=~"$job"}[2m]) > 0 '
             'or ivanti_exporter_config_last_reload_successful{job=~"$job"} == 0',
     "step": "1m", "titleFormat": "Exporter reload", "textFormat": "Configuration reloaded (or a reload was rejected)"},
    {"name": "Configuration changes", "datasource": DS, "enable": True, "iconColor": "purple",
     "expr": 'changes(ivanti_last_config_change_timestamp_seconds{job=~"$job"}[10m]) > 0',
     "step": "5m", "titleFormat": "Configuration of {{target}} changed",
     "textFormat": "last-config-update of the status overview moved (collector status_overview)"},
    {"name": "Reboots", "datasource": DS, "enable": True, "iconColor": "red",
     "expr": 'changes(ivanti_boot_time_seconds{job=~"$job"}[10m]) > 0',
     "step": "5m", "titleFormat": "{{target}} rebooted", "textFormat": "The appliance's boot time changed"},
]


STD_VARS = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"), SITE,
            var_query("target", "Appliance", 'label_values(ivanti_up{job=~"$job", site=~"$site"}, target)', all_value=None)]
# ICS-only target list: ivanti_gateway_accessible is published by kind ics only.
ICS_VARS = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"), SITE,
            var_query("target", "Appliance", 'label_values(ivanti_gateway_accessible{job=~"$job", site=~"$site"}, target)', all_value=None)]
PERCENT_THRESHOLDS = {"thresholds": {"mode": "absolute", "steps": [
    {"color": "green", "value": None}, {"color": "orange", "value": 0.75}, {"color": "red", "value": 0.9}]},
    "min": 0, "max": 1}
UPDOWN = {"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                                     "1": {"text": "UP", "color": "green"}}}],
          "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]}}
ACCESSIBLE = [{"type": "value", "options": {"0": {"text": "NOT ACCESSIBLE", "color": "red"},
                                            "1": {"text": "accessible", "color": "green"}}}]
# Per-appliance time series show the TOPK highest appliances at each step:
# a fleet of 1,000 boxes is not 1,000 lines (pick appliances in the
# Appliance variable to see others).
TOPK = 10


def top(expr):
    return f"topk({TOPK}, {expr})"


def readable_table(columns):
    """Table transformations: keep only `columns` (label: header), in order,
    renamed (no Time, Value, job or instance columns)."""
    names = list(columns)
    return [{"id": "filterFieldsByName", "options": {"include": {"names": names}}},
            {"id": "organize", "options": {"renameByName": columns,
                                           "indexByName": {n: i for i, n in enumerate(names)}}}]


def vip_owner_columns():
    return dict([(label, label.capitalize()) for label in CLUSTER_LABELS]
                + [("cluster_name", "Cluster"), ("vip", "VIP"), ("address", "Address"), ("owner", "Owner")])


def fleet_overview():
    b = Board("ivanti-fleet-overview", "Ivanti / Fleet overview",
              "Every Connect Secure / Policy Secure appliance at a glance.")
    b.row("Fleet")
    b.panel("stat", "Appliances up", "Appliances whose latest poll of every collector succeeded (ivanti_up).",
            [q(f"sum(ivanti_up{{{SEL}}})", "up", instant=True)], w=4, h=4, field={"color": {"mode": "fixed", "fixedColor": "green"}})
    b.panel("stat", "Appliances down", "Appliances with at least one failing collector (ivanti_up == 0).",
            [q(f"count(ivanti_up{{{SEL}}} == 0) or vector(0)", "down", instant=True)], w=4, h=4,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("stat", "Active sessions", "Sessions of the fleet, each cluster counted once: sum over clusters of the max over "
            "its members (ivanti_active_sessions is cluster-scoped; a stand-alone box is its own cluster).",
            [q(f"sum(max by (job, {CL}cluster_name) (ivanti_active_sessions{{{SEL}}} * {CLUSTER}))", "sessions", instant=True)], w=4, h=4)
    b.panel("stat", "VPN tunnels", "Sum of VPN-TUNNEL-COUNT over appliances (per node).",
            [q(f"sum(ivanti_vpn_tunnels{{{SEL}}})", "tunnels", instant=True)], w=4, h=4)
    b.panel("stat", "Gateways not accessible", "Appliances whose healthcheck reports the gateway as not accessible.",
            [q(f"count(ivanti_gateway_accessible{{{SEL}}} == 0) or vector(0)", "", instant=True)], w=4, h=4,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("stat", "Logins disabled", "Appliances reporting user-login-permission false.",
            [q(f"count(ivanti_user_login_permitted{{{SEL}}} == 0) or vector(0)", "", instant=True)], w=4, h=4,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}]}})
    b.panel("table", "Appliances", "One row per appliance: status and load from the latest polls.",
            [q(f"ivanti_up{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"ivanti_gateway_accessible{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"ivanti_signed_in_users{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"ivanti_vpn_tunnels{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"ivanti_cpu_utilization_ratio{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"ivanti_swap_utilization_ratio{{{SEL}}}", "", instant=True, fmt="table")],
            w=24, h=10, transformations=[
                {"id": "joinByField", "options": {"byField": "target", "mode": "outer"}},
                {"id": "organize", "options": {"excludeByName": {}, "renameByName": {
                    "Value #A": "up", "Value #B": "accessible", "Value #C": "signed-in users", "Value #D": "tunnels",
                    "Value #E": "CPU", "Value #F": "swap"}}},
                {"id": "filterFieldsByName", "options": {"include": {"pattern": "^(job|target|up|accessible|signed-in users|tunnels|CPU|swap)$"}}}],
            field={"custom": {"align": "auto"}}, links=DETAIL_LINK, overrides=[
                column("up", [{"id": "mappings", "value": UPDOWN["mappings"]}, {"id": "custom.cellOptions", "value": {"type": "color-text"}}]),
                column("accessible", [{"id": "mappings", "value": ACCESSIBLE}, {"id": "custom.cellOptions", "value": {"type": "color-text"}}]),
                column("CPU", [{"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 0}]),
                column("swap", [{"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 0}])])
    b.row("Load")
    b.panel("timeseries", f"CPU by appliance (top {TOPK})", f"CPU utilization (CPU-UTILIZATION): the {TOPK} highest appliances.",
            [q(top(f"ivanti_cpu_utilization_ratio{{{SEL}}}"), "{{target}}")], w=8, unit="percentunit", field=PERCENT_THRESHOLDS)
    b.panel("timeseries", f"Disk by appliance (top {TOPK})", f"Disk utilization of the {TOPK} fullest appliances; absent where the appliance reports -1.",
            [q(top(f"ivanti_disk_utilization_ratio{{{SEL}}}"), "{{target}}")], w=8, unit="percentunit", field=PERCENT_THRESHOLDS)
    b.panel("timeseries", f"Swap by appliance (top {TOPK})", f"Swap utilization of the {TOPK} appliances swapping most.",
            [q(top(f"ivanti_swap_utilization_ratio{{{SEL}}}"), "{{target}}")], w=8, unit="percentunit", field=PERCENT_THRESHOLDS)
    b.panel("bargauge", "Top 10 clusters by sessions",
            "The ten clusters with the most active sessions (a stand-alone appliance is its own cluster). "
            "Every member reports its cluster's total, so a cluster is shown once, not once per member.",
            [q(f"topk(10, max by (job, {CL}cluster_name) (ivanti_active_sessions{{{SEL}}} * {CLUSTER}))",
               CL_LEGEND + "{{cluster_name}}", instant=True)], w=12, h=9,
            options={"orientation": "horizontal", "displayMode": "basic"})
    b.panel("timeseries", f"Sessions and tunnels (top {TOPK})", f"Active sessions and VPN tunnels per appliance: the {TOPK} busiest of each.",
            [q(top(f"ivanti_active_sessions{{{SEL}}}"), "{{target}} sessions"), q(top(f"ivanti_vpn_tunnels{{{SEL}}}"), "{{target}} tunnels")],
            w=12, h=9)
    b.row("Firmware and licensing")
    b.panel("table", "Firmware versions", "How many appliances run each firmware on each model.",
            [q(f"count by (os_version, hardware_model) (ivanti_system_info{{{SEL}}})", "", instant=True, fmt="table")], w=12)
    b.panel("bargauge", "Licenses leased by license servers", "ivanti_license_server_leased: licenses of each feature a license "
            "server has leased out in all (the sum of its clients' leases; the API publishes no capacity).",
            [q(f'max by (target, feature) (ivanti_license_server_leased{{{SEL}}})', "{{target}} {{feature}}", instant=True)],
            w=12, options={"orientation": "horizontal", "displayMode": "basic"})
    b.panel("bargauge", "Licensed capacity in use", "Concurrent users over the licensed capacity (user-stats), once per cluster: "
            "max over the members of each (a stand-alone box is its own cluster; a license server, allocating none, is left out). "
            "Alerts at 90% and 95% held 15 minutes.",
            [q(f"sort_desc(max by (job, cluster_name) (ivanti_license_current_users{{{SEL}}} * {CLUSTER}) / "
               f"(max by (job, cluster_name) (ivanti_license_allocated_users{{{SEL}}} * {CLUSTER}) > 0))", "{{cluster_name}}", instant=True)],
            w=12, unit="percentunit", options={"orientation": "horizontal", "displayMode": "basic"},
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                {"color": "orange", "value": 0.9},
                                                                {"color": "red", "value": 0.95}]}, "min": 0, "max": 1})
    b.panel("stat", "Clocks not synchronised", "Appliances with no NTP server that answered its last poll below stratum 16 "
            "and within 1 s (ivanti_ntp_synchronized 0). SAML, TOTP, Kerberos and certificate checks need the time.",
            [q(f"count(ivanti_ntp_synchronized{{{SEL}}} == 0) or vector(0)", "", instant=True)], w=12,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}]}})
    b.panel("bargauge", "Days until certificate expiry", "notAfter of the TLS certificate each target presents, from now "
            "((ivanti_tls_certificate_expiry_timestamp_seconds - time()) / 86400, in days). Alerts at 21 and 7 days.",
            [q(f'sort((ivanti_tls_certificate_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400)', "{{target}}", instant=True)],
            w=24, unit="d", options={"orientation": "horizontal", "displayMode": "basic"},
            field={"decimals": 0, "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": None},
                                                                               {"color": "orange", "value": 7},
                                                                               {"color": "green", "value": 21}]}})
    b.row("Polling")
    b.panel("timeseries", "Collector errors by reason", "Failed polls per collector and reason (timeout, connect, tls, auth, http, parse, too_large; Kerberos: clock_skew, ticket_expired, kdc_unreachable; credentials: a credentials file unreadable).",
            [q(f"sum by (collector, reason) (increase(ivanti_collector_errors_total{{{SEL}}}[$__rate_interval]))", "{{collector}} {{reason}}")],
            w=12)
    b.panel("timeseries", "Exporter", "Polls per second, polls in flight, and whether the last config reload succeeded.",
            [q('sum(rate(ivanti_exporter_polls_total{job=~"$job"}[$__rate_interval]))', "polls/s"),
             q('sum(ivanti_exporter_polls_in_flight{job=~"$job"})', "in flight"),
             q('min(ivanti_exporter_config_last_reload_successful{job=~"$job"})', "last reload ok")], w=12)
    return b.json(ICS_VARS)


def appliance_detail():
    one = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"), SITE,
           var_query("target", "Appliance", 'label_values(ivanti_gateway_accessible{job=~"$job", site=~"$site"}, target)',
                     multi=False, include_all=False)]
    b = Board("ivanti-appliance-detail", "Ivanti / Appliance detail", "One appliance: load, sessions, cluster and polls.")
    b.row("Health")
    b.panel("stat", "Status", "ivanti_up: 1 when every collector's latest poll succeeded.",
            [q(f"ivanti_up{{{SEL}}}", "{{target}}", instant=True)], w=4, h=4, field=UPDOWN)
    b.panel("stat", "Gateway accessible", "From the healthcheck's HTTP status.",
            [q(f"ivanti_gateway_accessible{{{SEL}}}", "", instant=True)], w=4, h=4, field=UPDOWN)
    b.panel("stat", "Logins permitted", "user-login-permission.",
            [q(f"ivanti_user_login_permitted{{{SEL}}}", "", instant=True)], w=4, h=4,
            field={"mappings": [{"type": "value", "options": {"0": {"text": "disabled by an admin", "color": "orange"},
                                                              "1": {"text": "permitted", "color": "green"}}}]})
    b.panel("stat", "Licensed user limit reached", "MAX-LICENSED-USERS-REACHED.",
            [q(f"ivanti_max_licensed_users_reached{{{SEL}}}", "", instant=True)], w=4, h=4,
            field={"mappings": [{"type": "value", "options": {"0": {"text": "no", "color": "green"}, "1": {"text": "REACHED", "color": "red"}}}]})
    b.panel("stat", "Firmware", "os_version and hardware model.",
            [q(f"ivanti_system_info{{{SEL}}}", "{{os_version}} on {{hardware_model}}", instant=True)], w=8, h=4,
            options={"textMode": "name"})
    b.panel("timeseries", "CPU, swap, disk", "Utilizations reported by the healthcheck, 0-100%.",
            [q(f"ivanti_cpu_utilization_ratio{{{SEL}}}", "CPU"), q(f"ivanti_swap_utilization_ratio{{{SEL}}}", "swap"),
             q(f"ivanti_disk_utilization_ratio{{{SEL}}}", "disk")], w=12, unit="percentunit", field=PERCENT_THRESHOLDS)
    b.panel("timeseries", "Users, tunnels, SSL connections", "USER-COUNT, VPN-TUNNEL-COUNT, SSL-CONNECTION-COUNT.",
            [q(f"ivanti_signed_in_users{{{SEL}}}", "signed-in users"), q(f"ivanti_vpn_tunnels{{{SEL}}}", "VPN tunnels"),
             q(f"ivanti_ssl_connections{{{SEL}}}", "SSL connections")], w=12)
    b.row("Sessions")
    for metric, label in [("realm", "realm"), ("node", "node"), ("transport", "transport")]:
        b.panel("timeseries", f"Sessions by {label}", f"Active sessions per {label}, from the session records read "
                "(see the breakdown records panel when paging is capped).",
                [q(f"ivanti_active_sessions_by_{metric}{{{SEL}}}", f"{{{{{label}}}}}")], w=8, field={"custom": {"stacking": {"mode": "normal"}}})
    b.panel("timeseries", "Sessions: total and breakdown coverage", "ivanti_active_sessions (appliance's own total) and how many records the breakdowns used.",
            [q(f"ivanti_active_sessions{{{SEL}}}", "total"), q(f"ivanti_active_sessions_breakdown_records{{{SEL}}}", "records in breakdowns")], w=24, h=6)
    b.row("Cluster")
    b.panel("state-timeline", "Members reachable", "Per member, as this appliance reports it (status-code bit 0x8).",
            [q(f"ivanti_cluster_member_reachable{{{SEL}}}", "{{member}}")], w=8, field=UPDOWN)
    b.panel("state-timeline", "Leader", "Which member has the leader bit (0x8000).",
            [q(f"ivanti_cluster_member_leader{{{SEL}}}", "{{member}}")], w=8)
    b.panel("table", "VIP owners", "Current owner of each virtual IP, as this appliance reports it.",
            [q(f"ivanti_cluster_vip_owner_info{{{SEL}}}", "", instant=True, fmt="table")], w=8,
            transformations=readable_table({"vip": "VIP", "address": "Address", "owner": "Owner"}))
    b.row("Time, host checker, reboots")
    b.panel("timeseries", "NTP offset per server", "ivanti_ntp_server_offset_seconds (ntpq offset, ms converted to s). "
            "Alert when every reachable server is more than 0.5 s off.",
            [q(f"ivanti_ntp_server_offset_seconds{{{SEL}}}", "{{server}}")], w=8, unit="s")
    b.panel("state-timeline", "NTP servers reachable", "Whether each server answered the appliance's last poll "
            "(lowest bit of the octal reach mask), and whether any is synchronised.",
            [q(f"ivanti_ntp_server_reachable{{{SEL}}}", "{{server}}"), q(f"ivanti_ntp_synchronized{{{SEL}}}", "synchronised")],
            w=8, field=UPDOWN)
    b.panel("timeseries", "Clock skew", "The appliance's clock minus the exporter's at the middle of the request "
            "(status overview; 1 s resolution). Alert beyond 30 s.",
            [q(f"ivanti_clock_skew_seconds{{{SEL}}}", "skew")], w=8, unit="s")
    b.panel("stat", "Uptime", "Since the boot time (the appliance's clock minus its uptime, stable between polls). "
            "Reboots are also annotations.",
            [q(f"time() - ivanti_boot_time_seconds{{{SEL}}}", "", instant=True)], w=6, h=4, unit="s")
    b.panel("stat", "Last configuration change", "Time since last-config-update (status overview); each change is an annotation.",
            [q(f"time() - ivanti_last_config_change_timestamp_seconds{{{SEL}}}", "", instant=True)], w=6, h=4, unit="s")
    b.panel("stat", "Host checker package", "The active ESAP version (default version in the legend).",
            [q(f"ivanti_esap_info{{{SEL}}}", "{{active_version}} (default {{default_version}})", instant=True)], w=6, h=4,
            options={"textMode": "name"})
    b.panel("stat", "Host checker package age", "Since the active ESAP package was activated. Alert after 90 days "
            "(deploy/prometheus/build.py).",
            [q(f"time() - ivanti_esap_activated_timestamp_seconds{{{SEL}}}", "", instant=True)], w=6, h=4, unit="s",
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                {"color": "orange", "value": 90 * 86400}]}})
    b.row("Polls")
    b.panel("timeseries", "Collector duration", "Wall time of each collector's latest poll.",
            [q(f"ivanti_collector_duration_seconds{{{SEL}}}", "{{collector}}")], w=8, unit="s")
    b.panel("timeseries", "Age of the data", "Seconds since each collector's last successful poll.",
            [q(f"time() - ivanti_collector_last_success_timestamp_seconds{{{SEL}}}", "{{collector}}")], w=8, unit="s")
    b.panel("timeseries", "Errors by reason", "Failed polls per collector and reason.",
            [q(f"sum by (collector, reason) (increase(ivanti_collector_errors_total{{{SEL}}}[$__rate_interval]))", "{{collector}} {{reason}}")], w=8)
    b.panel("state-timeline", "Collector success", "1 while a collector's latest poll succeeded.",
            [q(f"ivanti_collector_success{{{SEL}}}", "{{collector}}")], w=24, h=6, field=UPDOWN)
    return b.json(one)


def clusters_licensing():
    cvars = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"),
             var_query("cluster_name", "Cluster", 'label_values(ivanti_cluster_info{job=~"$job"}, cluster_name)')]
    join = 'on (job, target) group_left (cluster_name) ivanti_cluster_info{job=~"$job", cluster_name=~"$cluster_name"}'
    b = Board("ivanti-clusters-licensing", "Ivanti / Clusters and licensing",
              "Cluster members, leaders and VIP owners over time; license leases and named users.")
    b.row("Clusters")
    b.panel("table", "Clusters", "Each cluster, its mode and the members polled in it (click a target for its detail).",
            [q(f'max by (job, {CL}cluster_name, mode, target) (ivanti_cluster_info{{job=~"$job", cluster_name=~"$cluster_name"}})', "", instant=True, fmt="table")],
            w=12, links=DETAIL_LINK, transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}])
    b.panel("timeseries", "Active sessions per cluster", "Max over the members of ivanti_active_sessions (cluster-scoped: "
            "every member reports the same list).",
            [q(f'max by ({CL}cluster_name) (ivanti_active_sessions{{job=~"$job"}} * {join})', CL_LEGEND + "{{cluster_name}}")], w=12)
    b.panel("stat", "Members unreachable", "Members reported unreachable by any member (min over reporters).",
            [q(f'count(min by ({CL}cluster_name, member) (ivanti_cluster_member_reachable * {join}) == 0) or vector(0)', "", instant=True)], w=6,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("stat", "Clusters without leader", "Clusters in which no member has the leader bit.",
            [q(f'count(max by ({CL}cluster_name) (ivanti_cluster_member_leader * {join}) == 0) or vector(0)', "", instant=True)], w=6,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("state-timeline", "Members reachable", "Per cluster and member; min over the reporting members, so one member "
            "reported by several nodes is shown once.",
            [q(f"min by ({CL}cluster_name, member) (ivanti_cluster_member_reachable * {join})", CL_LEGEND + "{{cluster_name}} / {{member}}")], w=12, field=UPDOWN)
    b.panel("state-timeline", "Leader", "Leader bit per member (max over reporters).",
            [q(f"max by ({CL}cluster_name, member) (ivanti_cluster_member_leader * {join})", CL_LEGEND + "{{cluster_name}} / {{member}}")], w=12)
    b.panel("state-timeline", "Members enabled", "enabled per member (max over reporters).",
            [q(f"max by ({CL}cluster_name, member) (ivanti_cluster_member_enabled * {join})", CL_LEGEND + "{{cluster_name}} / {{member}}")], w=12, field=UPDOWN)
    b.panel("timeseries", "VIP owner changes", "Owner changes of each virtual IP of each cluster over the interval (a failover): "
            "distinct owners seen by any member, minus one. 0 without a failover.",
            [q(f'count by ({CL}cluster_name, vip) (count by ({CL}cluster_name, vip, owner) (count_over_time(ivanti_cluster_vip_owner_info{{job=~"$job"}}[$__range]) '
               f'* {join})) - 1', CL_LEGEND + "{{cluster_name}} {{vip}}")], w=12)
    b.panel("table", "VIP owners now", "Current owner of each virtual IP of each cluster (as its members report it).",
            [q(f'max by ({CL}cluster_name, vip, address, owner) (ivanti_cluster_vip_owner_info{{job=~"$job"}} * {join})', "", instant=True, fmt="table")], w=12,
            transformations=readable_table(vip_owner_columns()))
    b.panel("table", "Status flags", "Known status-code bits set per member.",
            [q(f"max by ({CL}cluster_name, member, flag) (ivanti_cluster_member_status_flag * {join}) == 1", "", instant=True, fmt="table")], w=12)
    b.row("Licensing")
    b.panel("timeseries", "Licensed capacity in use per cluster", "Recording rule ivanti:cluster_license_utilization:ratio: "
            "concurrent users over the licensed capacity (user-stats), once per cluster. Alerts at 90% and 95% held 15 minutes.",
            [q('ivanti:cluster_license_utilization:ratio{job=~"$job", cluster_name=~"$cluster_name"}', "{{cluster_name}}")], w=12,
            unit="percentunit", field={"min": 0, "max": 1, "thresholds": {"mode": "absolute", "steps": [
                {"color": "green", "value": None}, {"color": "orange", "value": 0.9}, {"color": "red", "value": 0.95}]}})
    b.panel("timeseries", "Concurrent users, 24-hour peak and licensed capacity", "user-stats per cluster (max over the members): "
            "current-user-count, max-active-user-count-24hrs and allocated-user-count.",
            [q(f'max by (cluster_name) (ivanti_license_current_users{{job=~"$job"}} * {CLUSTER})', "{{cluster_name}} now"),
             q(f'max by (cluster_name) (ivanti_license_peak_users_24h{{job=~"$job"}} * {CLUSTER})', "{{cluster_name}} 24h peak"),
             q(f'max by (cluster_name) (ivanti_license_allocated_users{{job=~"$job"}} * {CLUSTER})', "{{cluster_name}} licensed")], w=12)
    b.panel("timeseries", "Leased licenses per feature and client", "ivanti_license_leased on each license server.",
            [q('ivanti_license_leased{job=~"$job"}', "{{target}} {{feature}} → {{client}}")], w=12)
    b.panel("timeseries", "Licenses leased per feature (license server total)", "ivanti_license_server_leased: the total a "
            "license server has leased out per feature (the sum of its clients' leases, not a capacity).",
            [q('ivanti_license_server_leased{job=~"$job"}', "{{target}} {{feature}}")], w=8)
    b.panel("timeseries", "Named users", "Named users per product (pcs, pps, local).",
            [q('ivanti_named_users{job=~"$job"}', "{{target}} {{product}}")], w=8)
    b.panel("state-timeline", "Licensed user limit reached", "MAX-LICENSED-USERS-REACHED per cluster (cluster-wide: max over "
            "its members; a stand-alone box is its own cluster).",
            [q(f'max by ({CL}cluster_name) (ivanti_max_licensed_users_reached{{job=~"$job"}} * {CLUSTER})', CL_LEGEND + "{{cluster_name}}")], w=8,
            field={"mappings": [{"type": "value", "options": {"0": {"text": "no", "color": "green"}, "1": {"text": "REACHED", "color": "red"}}}]})
    return b.json(cvars)


def sps_overview():
    svars = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"),
             var_query("target", "SPS", 'label_values(oneidentity_sps_cpu_usage_ratio{job=~"$job"}, target)')]
    b = Board("ivanti-sps-overview", "Ivanti / One Identity SPS",
              "Safeguard for Privileged Sessions appliances (kind: sps): health, recording, indexing and cluster nodes.", tags=("sps",))
    b.row("Health")
    b.panel("state-timeline", "Health polls", "1 while GET /api/health_status and /api/cluster/status succeed.",
            [q(f'ivanti_collector_success{{{SEL}, collector=~"health_status|cluster_status"}}', "{{target}} {{collector}}")],
            w=12, field=UPDOWN)
    b.panel("stat", "Firmware integrity problems", "Firmware partitions whose integrity check is not OK.",
            [q(f"count(oneidentity_sps_firmware_integrity_ok{{{SEL}}} == 0) or vector(0)", "", instant=True)], w=6,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("stat", "RAID not OK", "Appliances whose RAID status is not OK.",
            [q(f"count(oneidentity_sps_raid_ok{{{SEL}}} == 0) or vector(0)", "", instant=True)], w=6,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("timeseries", f"CPU, memory, disk, swap (top {TOPK})",
            f"Usage ratios from /api/health_status: the {TOPK} highest series of each.",
            [q(top(f"oneidentity_sps_cpu_usage_ratio{{{SEL}}}"), "{{target}} CPU"),
             q(top(f"oneidentity_sps_memory_usage_ratio{{{SEL}}}"), "{{target}} memory"),
             q(top(f"oneidentity_sps_disk_usage_ratio{{{SEL}}}"), "{{target}} disk"),
             q(top(f"oneidentity_sps_swap_usage_ratio{{{SEL}}}"), "{{target}} swap")],
            w=12, unit="percentunit", field=PERCENT_THRESHOLDS)
    b.panel("timeseries", f"Load (top {TOPK})", f"Load averages: the {TOPK} most loaded appliances of each.",
            [q(top(f"oneidentity_sps_load1{{{SEL}}}"), "{{target}} 1m"), q(top(f"oneidentity_sps_load5{{{SEL}}}"), "{{target}} 5m"),
             q(top(f"oneidentity_sps_load15{{{SEL}}}"), "{{target}} 15m")], w=12)
    b.row("Recording and indexing")
    b.panel("timeseries", f"Sessions being recorded (top {TOPK})",
            f"oneidentity_sps_active_sessions by appliance and protocol: the {TOPK} busiest.",
            [q(top(f"sum by (target, protocol) (oneidentity_sps_active_sessions{{{SEL}}})"), "{{target}} {{protocol}}")], w=12)
    b.panel("timeseries", f"Pipeline queues (top {TOPK})", f"Fill level of the processing queues: the {TOPK} fullest.",
            [q(top(f"oneidentity_sps_pipeline_queue_usage_ratio{{{SEL}}}"), "{{target}} {{queue}}")], w=12, unit="percentunit",
            field=PERCENT_THRESHOLDS)
    b.panel("timeseries", f"Indexer workers (top {TOPK})", f"Workers and idle workers by capability: the {TOPK} largest of each.",
            [q(top(f"oneidentity_sps_indexer_workers{{{SEL}}}"), "{{target}} {{capability}} workers"),
             q(top(f"oneidentity_sps_indexer_idle_workers{{{SEL}}}"), "{{target}} {{capability}} idle")], w=12)
    b.panel("timeseries", f"Indexer jobs (top {TOPK})", f"Jobs queued or running by type: the {TOPK} largest.",
            [q(top(f"oneidentity_sps_indexer_jobs{{{SEL}}}"), "{{target}} {{job_type}}")], w=12)
    b.row("Cluster")
    b.panel("state-timeline", "Nodes up", "Per node, as the Central Management node sees it.",
            [q(f"oneidentity_sps_cluster_node_up{{{SEL}}}", "{{node}}")], w=12, field=UPDOWN)
    b.panel("table", "Nodes", "Sync status and last contact of each node.",
            [q(f"oneidentity_sps_cluster_node_sync_status{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"time() - oneidentity_sps_cluster_node_last_seen_timestamp_seconds{{{SEL}}}", "", instant=True, fmt="table")],
            w=12, transformations=[{"id": "joinByField", "options": {"byField": "node", "mode": "outer"}},
                                   {"id": "organize", "options": {"renameByName": {"Value #A": "in state", "Value #B": "seconds since last seen"}}}])
    b.panel("timeseries", "Sessions per node", "Sessions each node records.",
            [q(f"sum by (node) (oneidentity_sps_cluster_node_active_sessions{{{SEL}}})", "{{node}}")], w=12)
    b.panel("timeseries", "Node memory and disk", "Per node.",
            [q(f"oneidentity_sps_cluster_node_memory_usage_ratio{{{SEL}}}", "{{node}} memory"),
             q(f"oneidentity_sps_cluster_node_disk_usage_ratio{{{SEL}}}", "{{node}} disk")], w=12, unit="percentunit")
    return b.json(svars)


def epmm_overview():
    evars = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"),
             var_query("target", "EPMM", 'label_values(ivanti_epmm_devices{job=~"$job"}, target)')]
    b = Board("ivanti-epmm-overview", "Ivanti / EPMM devices",
              "Ivanti EPMM cores (kind: epmm): device counts by status and platform, compliance, device spaces.", tags=("epmm",))
    b.row("Devices")
    b.panel("stat", "Devices", "ivanti_epmm_devices summed over the selected cores.",
            [q(f"sum(ivanti_epmm_devices{{{SEL}}})", "", instant=True)], w=6, h=4)
    b.panel("stat", "Active", "Devices with status ACTIVE.",
            [q(f'sum(ivanti_epmm_devices_by_status{{{SEL}, status="ACTIVE"}})', "", instant=True)], w=6, h=4)
    b.panel("stat", "Non-compliant share", "Non-compliant active devices / active devices.",
            [q(f'sum(ivanti_epmm_devices_noncompliant{{{SEL}}}) / sum(ivanti_epmm_devices_by_status{{{SEL}, status="ACTIVE"}})', "", instant=True)],
            w=6, h=4, unit="percentunit", field={"thresholds": {"mode": "absolute", "steps": [
                {"color": "green", "value": None}, {"color": "orange", "value": 0.05}, {"color": "red", "value": 0.1}]}})
    b.panel("state-timeline", "API polls", "1 while the device queries succeed.",
            [q(f'ivanti_collector_success{{{SEL}, collector=~"devices|device_spaces"}}', "{{target}} {{collector}}")],
            w=6, h=4, field=UPDOWN)
    b.panel("timeseries", f"Devices by status (top {TOPK})", f"totalCount per core and common.status: the {TOPK} largest.",
            [q(top(f"ivanti_epmm_devices_by_status{{{SEL}}}"), "{{target}} {{status}}")], w=12)
    b.panel("timeseries", f"Active devices by platform (top {TOPK})",
            f"totalCount per core and common.platform among active devices: the {TOPK} largest.",
            [q(top(f"ivanti_epmm_devices_by_platform{{{SEL}}}"), "{{target}} {{platform}}")], w=12)
    b.panel("timeseries", f"Non-compliant devices (top {TOPK})", f"Active devices out of compliance: the {TOPK} cores with most.",
            [q(top(f"ivanti_epmm_devices_noncompliant{{{SEL}}}"), "{{target}}")], w=12)
    b.panel("bargauge", "Device spaces", "Devices per device space.",
            [q(f"ivanti_epmm_device_space_devices{{{SEL}}}", "{{target}} {{space}}", instant=True)], w=12,
            options={"orientation": "horizontal", "displayMode": "gradient"})
    return b.json(evars)


def isec_overview():
    ivars = [var_ds(), var_query("job", "Job", "label_values(ivanti_up, job)"),
             var_query("target", "Console", 'label_values(ivanti_isec_console_info{job=~"$job"}, target)')]
    b = Board("ivanti-isec-overview", "Ivanti / Security Controls",
              "Ivanti Security Controls consoles (kind: isec): reachability, agents and machines, patch operations.", tags=("isec",))
    b.row("Consoles")
    b.panel("state-timeline", "API polls", "1 while the console answers (NTLM authentication included).",
            [q(f'ivanti_collector_success{{{SEL}, collector=~"console|inventory|operations"}}', "{{target}} {{collector}}")],
            w=12, field=UPDOWN)
    b.panel("table", "Versions", "Console version per target.",
            [q(f"ivanti_isec_console_info{{{SEL}}}", "", instant=True, fmt="table")], w=12,
            transformations=[{"id": "filterFieldsByName", "options": {"include": {"pattern": "^(target|version)$"}}}])
    b.panel("timeseries", f"Agents and machines (top {TOPK})",
            f"Agents managed and machines known per console: the {TOPK} largest consoles of each.",
            [q(top(f"ivanti_isec_agents{{{SEL}}}"), "{{target}} agents"), q(top(f"ivanti_isec_machines{{{SEL}}}"), "{{target}} machines")], w=12)
    b.panel("timeseries", f"Operations by status (top {TOPK})", f"Operations the console lists, by status: the {TOPK} largest.",
            [q(top(f"ivanti_isec_operations{{{SEL}}}"), "{{target}} {{status}}")], w=12)
    b.panel("stat", "Failed operations", "Operations with status Failed, over the selected consoles.",
            [q(f'sum(ivanti_isec_operations{{{SEL}, status=~"(?i)failed"}}) or vector(0)', "", instant=True)], w=6,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}]}})
    b.panel("stat", "Agents", "Agents over the selected consoles.",
            [q(f"sum(ivanti_isec_agents{{{SEL}}})", "", instant=True)], w=6)
    return b.json(ivars)


def advisory_links():
    """(cve, advisory URL) of every CVE in the compiled-in advisory data
    (src/advisories/advisories.yml), in its order."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "advisories", "advisories.yml")
    out, cve = [], None
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*- id: (CVE-\d+-\d+)\s*$", line)
            if m:
                cve = m.group(1)
            m = re.match(r'\s*advisory: "([^"]+)"', line)
            if m and cve:
                out.append((cve, m.group(1)))
                cve = None
    return out


def count_or_zero(expr):
    return f"count({expr}) or vector(0)"


def yes_no(yes_text, yes_color, no_text, no_color="green"):
    return [{"type": "value", "options": {"0": {"text": no_text, "color": no_color},
                                          "1": {"text": yes_text, "color": yes_color}}}]


def column(name, props):
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def security_posture():
    b = Board("ivanti-security-posture", "Ivanti / Security posture",
              "Which gateways run firmware with known-exploited vulnerabilities, which are one rollback away from one, "
              "which are past end of support, from the version each appliance reports (no probing). A version is not a "
              "compromise indicator: attackers fake upgrades, and patched is not clean (README: Firmware security posture).")
    # Every CVE of the data links to its advisory wherever it is a field name.
    cve_links = [column(cve, [{"id": "links", "value": [{"title": f"{cve} advisory", "url": url, "targetBlank": True}]}])
                 for cve, url in advisory_links()]
    red_from_1 = {"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}}
    orange_from_1 = {"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}]}}
    kev_running = count_or_zero(f'ivanti_firmware_vulnerabilities{{{SEL}, image="running", kev="true"}} > 0')
    kev_rollback = count_or_zero(f'ivanti_firmware_vulnerabilities{{{SEL}, image="rollback", kev="true"}} > 0')
    eos = count_or_zero(f"ivanti_firmware_end_of_support{{{SEL}}} == 1")
    b.row("Fleet")
    b.panel("stat", "Running a known-exploited CVE", "Appliances whose running firmware is affected by at least one CVE in "
            "CISA's KEV catalog (alert IvantiFirmwareKnownExploited).", [q(kev_running, "", instant=True)], w=4, h=4, field=red_from_1)
    b.panel("stat", "One rollback away", "Appliances whose rollback partition holds a firmware affected by a KEV CVE: "
            "a rollback would expose them again.", [q(kev_rollback, "", instant=True)], w=4, h=4, field=orange_from_1)
    b.panel("stat", "Past end of support", "Appliances whose running release train gets no more fixes (9.1: 2024-12-31).",
            [q(eos, "", instant=True)], w=4, h=4, field=red_from_1)
    b.panel("stat", "Build contradicts version", "Appliances whose build belongs to another version in the data's build "
            "table: a faked upgrade looks like this.",
            [q(count_or_zero(f"ivanti_firmware_build_mismatch{{{SEL}}} == 1"), "", instant=True)], w=4, h=4, field=red_from_1)
    b.panel("stat", "Unknown to the data", "Appliances whose running version the advisory data cannot place: exposure "
            "unknown, not fixed (update the data, or check kind_options.product).",
            [q(count_or_zero(f'ivanti_firmware_status_unknown{{{SEL}, image="running"}} == 1'), "", instant=True)], w=4, h=4,
            field=orange_from_1)
    b.panel("stat", "Advisory data age", "Time since the advisory data was last curated (alert at 90 days), and the KEV "
            "catalog version it was checked against.",
            [q('time() - max by (catalog_version) (ivanti_advisories_updated_timestamp_seconds{job=~"$job"} '
               '* on (job, instance) group_left (catalog_version) ivanti_advisories_info{job=~"$job"})',
               "KEV catalog {{catalog_version}}", instant=True)], w=4, h=4, unit="dtdurations",
            options={"textMode": "value_and_name"},
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                {"color": "orange", "value": 90 * 86400}]}})
    b.panel("bargauge", "Appliances affected, by CVE", "Running images affected by each CVE (click a bar for its advisory).",
            [q(f'sort_desc(count by (cve) (ivanti_firmware_vulnerable{{{SEL}, image="running"}}))', "{{cve}}", instant=True)],
            w=12, h=9, options={"orientation": "horizontal", "displayMode": "basic"}, overrides=cve_links)
    b.panel("bargauge", "Most exposed appliances", "The ten appliances whose running image has the most KEV CVEs.",
            [q(f'topk(10, ivanti_firmware_vulnerabilities{{{SEL}, image="running", kev="true"}} > 0)', "{{target}}", instant=True)],
            w=12, h=9, options={"orientation": "horizontal", "displayMode": "basic"}, field=red_from_1)
    b.row("Appliances")
    b.panel("table", "Firmware per appliance", "Running version and build, rollback image, KEV CVEs of each image, end of "
            "support, build check, and days until the TLS certificate expires (click a target for its detail).",
            [q(f'max by (job, target, version, build) (ivanti_firmware_info{{{SEL}, image="running"}})', "", instant=True, fmt="table"),
             q(f'max by (job, target, rollback, rollback_build) (label_join(label_join(ivanti_firmware_info{{{SEL}, image="rollback"}}, '
               '"rollback", "", "version"), "rollback_build", "", "build"))',
               "", instant=True, fmt="table"),
             q(f'ivanti_firmware_vulnerabilities{{{SEL}, image="running", kev="true"}}', "", instant=True, fmt="table"),
             q(f'ivanti_firmware_vulnerabilities{{{SEL}, image="rollback", kev="true"}}', "", instant=True, fmt="table"),
             q(f"ivanti_firmware_end_of_support{{{SEL}}}", "", instant=True, fmt="table"),
             q(f"ivanti_firmware_build_mismatch{{{SEL}}}", "", instant=True, fmt="table"),
             q(f'ivanti_firmware_status_unknown{{{SEL}, image="running"}}', "", instant=True, fmt="table"),
             q(f"(ivanti_tls_certificate_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400", "", instant=True, fmt="table")],
            w=24, h=10, links=DETAIL_LINK, transformations=[
                {"id": "joinByField", "options": {"byField": "target", "mode": "outer"}},
                {"id": "organize", "options": {"renameByName": {
                    "rollback_build": "rollback build", "Value #C": "KEV CVEs", "Value #D": "KEV CVEs in rollback", "Value #E": "end of support",
                    "Value #F": "build check", "Value #G": "data", "Value #H": "certificate"}}},
                {"id": "filterFieldsByName", "options": {"include": {"pattern":
                    "^(job|target|version|build|rollback|rollback build|KEV CVEs|KEV CVEs in rollback|end of support|build check|data|certificate)$"}}}],
            overrides=[
                column("KEV CVEs", [{"id": "custom.cellOptions", "value": {"type": "color-background"}}, {"id": "thresholds", "value": red_from_1["thresholds"]}]),
                column("KEV CVEs in rollback", [{"id": "custom.cellOptions", "value": {"type": "color-background"}}, {"id": "thresholds", "value": orange_from_1["thresholds"]}]),
                column("end of support", [{"id": "mappings", "value": yes_no("ENDED", "red", "supported")}, {"id": "custom.cellOptions", "value": {"type": "color-text"}}]),
                column("build check", [{"id": "mappings", "value": yes_no("CONTRADICTS VERSION", "red", "matches")}, {"id": "custom.cellOptions", "value": {"type": "color-text"}}]),
                column("data", [{"id": "mappings", "value": yes_no("version unknown", "orange", "placed")}, {"id": "custom.cellOptions", "value": {"type": "color-text"}}]),
                column("certificate", [{"id": "unit", "value": "d"}, {"id": "decimals", "value": 0},
                                       {"id": "thresholds", "value": {"mode": "absolute", "steps": [
                                           {"color": "red", "value": None}, {"color": "orange", "value": 7}, {"color": "green", "value": 21}]}},
                                       {"id": "custom.cellOptions", "value": {"type": "color-text"}}])])
    # Rows: appliances; columns: the CVEs affecting them (groupingToMatrix
    # names its first column "target\\cve").
    for image, title in [("running", "Affecting CVEs: running image"), ("rollback", "Affecting CVEs: rollback image")]:
        b.panel("table", title, f"One row per appliance, one column per CVE affecting its {image} image (click a cell for "
                "the CVE's advisory). No row: nothing known affects it, or its version is unknown to the data.",
                [q(f'ivanti_firmware_vulnerable{{{SEL}, image="{image}"}}', "", instant=True, fmt="table")], w=12, h=10,
                transformations=[{"id": "groupingToMatrix", "options": {
                    "columnField": "cve", "rowField": "target", "valueField": "Value", "emptyValue": "empty"}}],
                field={"mappings": [{"type": "value", "options": {"1": {"text": "affected", "color": "red"}}}],
                       "custom": {"cellOptions": {"type": "color-text"}}},
                overrides=[column("target\\cve", [{"id": "displayName", "value": "target"},
                                                     {"id": "links", "value": DETAIL_LINK}])] + cve_links)
    b.row("Over time and certificates")
    b.panel("timeseries", "Exposed appliances over time", "Fleet counts: running a KEV CVE, one rollback away, past end "
            "of support.",
            [q(kev_running, "running a KEV CVE"), q(kev_rollback, "KEV CVE in rollback"), q(eos, "past end of support")], w=12)
    b.panel("bargauge", "Certificates expiring soonest", "Days until the TLS certificate each appliance presents expires: "
            "the 20 soonest (alerts at 21 and 7 days).",
            [q(f"bottomk(20, (ivanti_tls_certificate_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400)", "{{target}}", instant=True)],
            w=12, unit="d", options={"orientation": "horizontal", "displayMode": "basic"},
            field={"decimals": 0, "thresholds": {"mode": "absolute", "steps": [
                {"color": "red", "value": None}, {"color": "orange", "value": 7}, {"color": "green", "value": 21}]}})
    return b.json(ICS_VARS)


# Values the dashboards' variables take in the promtool value tests and the
# e2e test (tests/integration/e2e.rs substitutes the same).
TEST_VARS = [("${job}", "ivanti"), ("$job", "ivanti"), ("${target}", ".+"), ("$target", ".+"),
             ("${cluster_name}", ".+"), ("$cluster_name", ".+"), ("${site}", ".+"), ("$site", ".+"),
             ("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "5m")]


def panel_queries(board):
    """(title, expr) of every panel query and annotation query, variables
    replaced by TEST_VARS."""
    out = []
    for p in board["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            for k, v in TEST_VARS:
                e = e.replace(k, v)
            out.append({"dashboard": board["uid"], "panel": p["title"], "expr": e})
    for a in board["annotations"]["list"]:
        e = a["expr"]
        for k, v in TEST_VARS:
            e = e.replace(k, v)
        out.append({"dashboard": board["uid"], "panel": "annotation: " + a["name"], "expr": e})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--runbook-url", default=RUNBOOK,
                    help="URL of the runbook the dashboards link to (default the project's docs/runbook.md)")
    ap.add_argument("--out", help="directory to write the dashboards to")
    a = ap.parse_args(argv)
    if not re.fullmatch(r"[^\s\"#]+", a.runbook_url):
        ap.error(f"--runbook-url {a.runbook_url!r}: no spaces, quotes or '#'")
    if not a.out and a.runbook_url != RUNBOOK:
        ap.error("other values than the defaults need --out DIR (the committed dashboards keep the defaults)")
    Board.runbook = a.runbook_url
    here = os.path.dirname(os.path.abspath(__file__))
    out = a.out or here
    os.makedirs(out, exist_ok=True)
    queries = []
    for name, board in [("ivanti-fleet-overview", fleet_overview()), ("ivanti-appliance-detail", appliance_detail()),
                        ("ivanti-clusters-licensing", clusters_licensing()), ("ivanti-sps-overview", sps_overview()),
                        ("ivanti-epmm-overview", epmm_overview()), ("ivanti-isec-overview", isec_overview()),
                        ("ivanti-security-posture", security_posture())]:
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(board, f, indent=2, ensure_ascii=False)
            f.write("\n")
        queries += panel_queries(board)
    if a.out:
        return 0
    # Read by tests/integration/rules.rs: every panel query a promtool value
    # test (deploy/prometheus/ivanti-exporter.rules.test.yml) checks must be
    # one of these, so a changed panel query fails the test until its value
    # test is updated.
    with open(os.path.join(here, "..", "deploy", "prometheus", "dashboard-queries.json"), "w") as f:
        json.dump(queries, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
