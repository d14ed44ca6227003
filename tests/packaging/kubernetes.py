#!/usr/bin/python3
"""The Kubernetes manifests (deploy/kubernetes/) against the packaged service.

Every manifest is parsed; the DaemonSet's capabilities are
packaging/capabilities.txt (as the systemd unit's are), its command is the
unit's ExecStart, its mounts are what that command's config writes and reads,
its metrics port is the ConfigMap's config's and the Service's and the
PodMonitor's; the ConfigMap's config is packaging/leakscope.toml but for the
keys a pod needs otherwise, and the built leakscope reads it; the
Containerfile installs the .deb and runs the same command.

    kubernetes.py SOURCE_DIR LEAKSCOPE_BINARY
"""
import glob
import os
import shlex
import subprocess
import sys
import tempfile
import tomllib

import yaml

src, leakscope = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return ok


def read(path):
    with open(os.path.join(src, path), encoding="utf-8") as f:
        return f.read()


# Keys of the packaged config a pod sets otherwise: metrics on the pod's
# address for the PodMonitor, alerts on stdout for kubectl logs (no journald).
POD_KEYS = {"metrics", "alert"}

caps = [l.strip() for l in read("packaging/capabilities.txt").splitlines() if l.startswith("CAP_")]
check(caps, "no CAP_ line in packaging/capabilities.txt")

unit = {}
for line in read("packaging/leakscope.service").splitlines():
    if "=" in line and not line.startswith("#"):
        key, value = line.split("=", 1)
        unit[key] = value
exec_start = shlex.split(unit["ExecStart"])

# Every manifest parses; each object is named, in the namespace leakscope.
objects = {}
for path in sorted(glob.glob(os.path.join(src, "deploy/kubernetes/*.yaml"))):
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            name = os.path.basename(path)
            if not check("apiVersion" in doc and "kind" in doc and "name" in doc.get("metadata", {}),
                         f"{name}: an object without apiVersion, kind or metadata.name"):
                continue
            if doc["kind"] != "Namespace":
                check(doc["metadata"].get("namespace") == "leakscope",
                      f"{name}: {doc['kind']} not in the namespace leakscope")
            objects[doc["kind"]] = doc
for kind in ("Namespace", "DaemonSet", "ConfigMap", "Service", "PodMonitor"):
    check(kind in objects, f"no {kind} in deploy/kubernetes")
if failures:
    sys.exit(1)
ds, cm, svc, pm = (objects[k] for k in ("DaemonSet", "ConfigMap", "Service", "PodMonitor"))
pod = ds["spec"]["template"]["spec"]
pod_labels = ds["spec"]["template"]["metadata"]["labels"]
check(ds["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), "the DaemonSet's selector misses its pods")
containers = pod["containers"]
check(len(containers) == 1, "the DaemonSet has more than one container")
c = containers[0]
sc = c.get("securityContext", {})

# Capabilities: the list, not privileged.
check(pod.get("hostPID") is True, "the DaemonSet is not hostPID (it traces the node's processes)")
check(sc.get("privileged") is not True, "the container is privileged")
check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
added = sorted("CAP_" + cap for cap in sc.get("capabilities", {}).get("add", []))
check(added == sorted(caps), f"the container adds {added}, packaging/capabilities.txt lists {sorted(caps)}")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "the container does not drop ALL capabilities")
ambient = sorted(unit.get("AmbientCapabilities", "").split())
check(ambient == sorted(caps) == sorted(unit.get("CapabilityBoundingSet", "").split()),
      f"the unit's capabilities {ambient} are not packaging/capabilities.txt")

# The command: the unit's ExecStart, the config from the ConfigMap.
command = c.get("command", []) + c.get("args", [])
check(command == exec_start, f"the container runs {command}, the unit {exec_start}")
config_path = exec_start[exec_start.index("--config") + 1]

mounts = {m.get("mountPath", ""): m for m in c.get("volumeMounts", [])}
volumes = {v["name"]: v for v in pod.get("volumes", [])}
for path, m in mounts.items():
    check(m["name"] in volumes, f"{path} mounts the volume {m['name']}, which is not defined")
for name in volumes:
    check(any(m["name"] == name for m in mounts.values()), f"the volume {name} is mounted nowhere")


def mount_of(path):
    """The volume mount holding `path` (the longest prefix), or None."""
    best = None
    for mp, m in mounts.items():
        if path == mp or path.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) > len(best["mountPath"]):
                best = m
    return best


config_mount = mounts.get(os.path.dirname(config_path))
if check(config_mount is not None, f"nothing mounted at {os.path.dirname(config_path)} (the config)"):
    vol = volumes.get(config_mount["name"], {})
    check(vol.get("configMap", {}).get("name") == cm["metadata"]["name"],
          f"{os.path.dirname(config_path)} is not the ConfigMap {cm['metadata']['name']}")
    check(os.path.basename(config_path) in cm["data"], f"the ConfigMap has no {os.path.basename(config_path)}")

# The ConfigMap's config: the packaged one but for POD_KEYS.
packaged = tomllib.loads(read("packaging/leakscope.toml"))["trace"]
pod_config = tomllib.loads(cm["data"][os.path.basename(config_path)])["trace"]
for key in sorted(set(packaged) | set(pod_config)):
    if key not in POD_KEYS:
        check(packaged.get(key) == pod_config.get(key),
              f"the ConfigMap's {key} = {pod_config.get(key)!r}, packaging/leakscope.toml's {packaged.get(key)!r}")
check(pod_config.get("alert") == ["stdout"], "the pod's alerts do not go to stdout (kubectl logs)")

# What the config writes and reads, mounted: the report directory (writable,
# the unit's StateDirectory=), the control socket's directory (the unit's
# RuntimeDirectory=), the kernel's BTF and tracefs from the node.
report_dir = pod_config["report-dir"]
m = mount_of(report_dir)
if check(m is not None and not m.get("readOnly"), f"{report_dir} (report-dir) is on no writable mount"):
    check(m["mountPath"] == "/var/lib/" + unit["StateDirectory"],
          f"the reports' mount {m['mountPath']} is not the unit's StateDirectory=/var/lib/{unit['StateDirectory']}")
    check("hostPath" in volumes[m["name"]], "the reports do not outlive the pod (no hostPath)")
run_dir = "/run/" + unit["RuntimeDirectory"]
m = mounts.get(run_dir)
check(m is not None and not m.get("readOnly"), f"{run_dir} (the control socket, RuntimeDirectory=) is not mounted writable")
for node_path in ("/sys/kernel/btf", "/sys/kernel/tracing"):
    m = mounts.get(node_path)
    if check(m is not None, f"{node_path} is not mounted"):
        check(volumes[m["name"]].get("hostPath", {}).get("path") == node_path, f"{node_path} is not the node's")
        check(m.get("readOnly") is True, f"{node_path} is mounted writable")
check(sc.get("readOnlyRootFilesystem") is True, "the container's root filesystem is writable")

# One port: the config's metrics port, the container's, the Service's and
# the PodMonitor's.
host, _, port = pod_config["metrics"].rpartition(":")
check(host == "0.0.0.0", f"the pod's metrics listen on {host}, not on the pod's address")
ports = {p["name"]: p for p in c.get("ports", [])}
check(ports.get("metrics", {}).get("containerPort") == int(port),
      f"the containerPort 'metrics' is {ports.get('metrics', {}).get('containerPort')}, the config's {port}")
svc_ports = svc["spec"]["ports"]
check(any(p.get("port") == int(port) and p.get("targetPort") in ("metrics", int(port)) for p in svc_ports),
      f"the Service does not expose the metrics port {port}")
check(svc["spec"]["selector"].items() <= pod_labels.items(), "the Service selects no leakscope pod")
check(pm["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), "the PodMonitor selects no leakscope pod")
check(any(e.get("port") == "metrics" and e.get("path", "/metrics") == "/metrics"
          for e in pm["spec"]["podMetricsEndpoints"]), "the PodMonitor does not scrape the port metrics at /metrics")
for probe in ("readinessProbe", "livenessProbe"):
    p = c.get(probe, {}).get("httpGet", {})
    check(p.get("port") in ("metrics", int(port)), f"the {probe} is not on the metrics port")

# The image: Debian's, the .deb installed by apt-get, the same command.
containerfile = read("deploy/kubernetes/Containerfile")
lines = [l for l in containerfile.splitlines() if l and not l.startswith("#")]
check(any(l.startswith("FROM ") and "debian:12" in l for l in lines), "the Containerfile is not FROM debian:12")
check("apt-get install" in containerfile and "leakscope_*_amd64.deb" in containerfile,
      "the Containerfile does not apt-get install the .deb")
entry = cmd = []
for l in lines:
    if l.startswith("ENTRYPOINT "):
        entry = yaml.safe_load(l[len("ENTRYPOINT "):])
    if l.startswith("CMD "):
        cmd = yaml.safe_load(l[len("CMD "):])
check(entry + cmd == exec_start, f"the image runs {entry + cmd}, the unit {exec_start}")

# leakscope itself reads the ConfigMap's config: every key a flag of trace,
# and --all (which takes no -p) among them.
with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
    f.write(cm["data"][os.path.basename(config_path)])
    f.flush()
    run = subprocess.run([leakscope, "trace", "--config", f.name, "-p", "1"], capture_output=True, text=True)
    check(run.returncode == 2 and "--all traces every process" in run.stderr,
          f"leakscope did not read the ConfigMap's config as --all (exit {run.returncode}): {run.stderr.strip()}")

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(objects)} objects; the DaemonSet adds {', '.join(added)} as the unit does, runs {' '.join(command)}, "
      f"mounts {', '.join(sorted(mounts))}, serves metrics on {port}")
