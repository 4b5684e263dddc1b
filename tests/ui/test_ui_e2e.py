"""The whole user journey in a real browser: Debian's Chromium driving a real JupyterLab with
this extension, the real Slurm, and the real test image (Charliecloud).

One scenario, in the order a user goes: the launcher shows the container kernel's tile; starting
it runs code inside the image; an image registered through the "Container kernels" panel gets its
own tile; a notebook submitted with "Submit as batch job" reaches COMPLETED in the "Batch jobs"
panel; its output notebook opens. Each step leaves a screenshot in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import Lab

#: Slurm start + container kernel + nbclient on a 2-core box shared with other tests.
JOB_TIMEOUT_MS = 240_000
KERNEL_TIMEOUT_MS = 90_000


def open_side_panel(page: Any, widget_id: str) -> Any:
    """Click the side-bar tab of ``widget_id`` (unless its panel is already shown)."""
    panel = page.locator(f"#{widget_id}")
    if not panel.is_visible():
        page.locator(f'.jp-SideBar li[data-id="{widget_id}"]').click()
    panel.wait_for(state="visible")
    return panel


def launcher_tile(page: Any, label: str) -> Any:
    """The Notebook tile labelled ``label`` in the newest Launcher tab."""
    return (
        page.locator(".jp-Launcher")
        .last.locator('.jp-LauncherCard[data-category="Notebook"]')
        .filter(has_text=label)
    )


def wait_for_idle_kernel(page: Any, display_name: str) -> None:
    """Wait until the status bar says the current notebook's kernel started and is idle."""
    page.locator(".jp-StatusBar-TextItem", has_text=f"{display_name} | Idle").wait_for(
        timeout=KERNEL_TIMEOUT_MS
    )


def open_launcher(page: Any) -> None:
    """A new Launcher tab (the "+" of the main area's tab bar)."""
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-addButton").first.click()
    page.locator(".jp-Launcher").last.wait_for(state="visible")


def test_container_kernels_from_launcher_to_batch_output(
    in_browser: Callable[[Callable[[Any, Callable[[str], Path]], None]], None],
    lab: Lab,
    test_image: str,
    bare_image: str,
) -> None:
    in_browser(lambda page, shot: journey(page, shot, lab, test_image, bare_image))


def journey(
    page: Any, shot: Callable[[str], Path], lab: Lab, test_image: str, bare_image: str
) -> None:
    """The steps, each ending in a screenshot."""
    # 1. The launcher shows the container kernel registered before Lab started.
    tile = launcher_tile(page, lab.kernel_display_name)
    tile.wait_for(state="visible")
    shot("launcher")

    # 2. Starting the tile gives a notebook whose kernel runs inside the image.
    tile.click()
    notebook = page.locator(".jp-NotebookPanel").last
    notebook.wait_for(state="visible")
    wait_for_idle_kernel(page, lab.kernel_display_name)
    editor = notebook.locator(".jp-Cell .cm-content").first
    editor.click()
    page.keyboard.type("print(open('/etc/jck-test-image').read().strip())")
    page.keyboard.press("Shift+Enter")
    output = notebook.locator(".jp-OutputArea-output").first
    output.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    assert output.inner_text().strip() == "py-ipykernel", output.inner_text()
    shot("kernel-runs-inside-image")

    # 3. "Container kernels" panel lists it with image, runtime and status.
    panel = open_side_panel(page, "jck-kernels-panel")
    row = panel.locator(f'[data-testid="jck-kernel"][data-kernel-name="{lab.kernel}"]')
    row.wait_for(state="visible")
    assert test_image in row.locator('[data-testid="jck-kernel-image"]').inner_text()
    assert "charliecloud" in row.inner_text()
    shot("kernels-panel")
    # This site allows images anywhere (no allowed_image_roots): the server probes this one, so
    # the panel offers "Probe", and the result replaces "not probed yet".
    probe_kernel = row.locator('[data-testid="jck-kernel-probe"]')
    assert probe_kernel.is_enabled()
    probe_kernel.click()
    row.locator(".jck-Actions", has_text="Probing").wait_for(
        state="detached", timeout=KERNEL_TIMEOUT_MS
    )
    assert row.locator('[role="alert"]').count() == 0, row.inner_text()
    status = row.locator('[data-testid="jck-kernel-status"]').inner_text()
    assert re.search(r"Python 3\.\d+.*ipykernel 6\.", status), status

    # 4. Register an image: the probe says why an image without ipykernel is unusable...
    panel.locator('[data-testid="jck-register-toggle"]').click()
    form = panel.locator('[data-testid="jck-register-form"]')
    form.locator('[data-testid="jck-register-image"]').fill(bare_image)
    form.locator('[data-testid="jck-register-runtime"]').select_option("charliecloud")
    form.locator('[data-testid="jck-probe-button"]').click()
    probe = form.locator('[data-testid="jck-probe-result"]')
    probe.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    assert probe.get_attribute("data-ok") == "false"
    assert "ipykernel" in probe.inner_text()
    shot("register-probe-unusable")

    # ...and shows what a usable image contains; registering it adds a launcher tile.
    form.locator('[data-testid="jck-register-image"]').fill(test_image)
    form.locator('[data-testid="jck-register-display-name"]').fill(
        "Registered in the UI (container)"
    )
    form.locator('[data-testid="jck-register-gpu"]').select_option("none")
    form.locator('[data-testid="jck-probe-button"]').click()
    probe.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    assert probe.get_attribute("data-ok") == "true"
    assert re.search(r"Python 3\.\d+.*ipykernel 6\.", probe.inner_text()), probe.inner_text()
    shot("register-probe-usable")
    # "Run on a compute node": partitions from sinfo, the #SBATCH lines the server would use,
    # and its validation message for a bad value; unticked again, the kernel stays local.
    form.locator('[data-testid="jck-register-node-enabled"]').check()
    partition = form.locator('[data-testid="jck-register-node-partition"]')
    assert {"debug", "gpu"} <= set(
        partition.locator("option").evaluate_all("o => o.map(x => x.value)")
    )
    partition.select_option("gpu")
    form.locator('[data-testid="jck-register-node-time"]').fill("1:00:00")
    sbatch = form.locator('[data-testid="jck-register-sbatch"]')
    sbatch.filter(has_text="--time=1:00:00").wait_for(timeout=10_000)
    assert "#SBATCH --partition=gpu" in sbatch.inner_text()
    form.locator('[data-testid="jck-register-node-mem"]').fill("lots")
    error = form.locator('[data-testid="jck-register-node-error"]')
    error.wait_for(timeout=10_000)
    assert error.inner_text().startswith("slurm.mem:")
    shot("register-node-kernel-fields")
    form.locator('[data-testid="jck-register-node-enabled"]').uncheck()
    form.locator('[data-testid="jck-register-submit"]').click()
    panel.locator('[data-testid="jck-register-notice"]').wait_for(timeout=KERNEL_TIMEOUT_MS)
    registered = panel.locator('[data-testid="jck-kernel"]', has_text="Registered in the UI")
    registered.wait_for(state="visible")
    assert registered.locator('[data-testid="jck-kernel-remove"]').is_visible()  # a user kernel
    assert "this server" in registered.locator('[data-testid="jck-kernel-runs-on"]').inner_text()
    open_launcher(page)
    launcher_tile(page, "Registered in the UI (container)").wait_for(state="visible")
    shot("registered-tile-in-launcher")

    # 5. Submit demo.ipynb as a batch job from its toolbar, with a changed parameter.
    open_side_panel(page, "filebrowser")
    page.locator(".jp-DirListing-item", has_text="demo.ipynb").dblclick()
    demo = page.locator(
        ".jp-NotebookPanel", has=page.locator(".jp-Cell", has_text="greeting = 'hello'")
    ).last
    demo.wait_for(state="visible")
    # An unsaved edit: the job runs the file on disk, so the UI asks to save it first.
    demo.locator(".jp-Cell .cm-content").nth(1).click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nprint('edited in the browser')")
    demo.locator('[data-jp-item-name="submit-batch-job"] .jp-ToolbarButtonComponent').click()
    save = page.locator(".jp-Dialog", has_text="Save changes before submitting?")
    save.wait_for(state="visible")
    shot("batch-save-first")
    save.get_by_role("button", name="Save and continue").click()
    dialog = page.locator(".jp-Dialog", has=page.locator('[data-testid="jck-batch-dialog"]'))
    dialog.wait_for(state="visible")
    kernel_select = dialog.locator('[data-testid="jck-batch-kernel"]')
    assert kernel_select.input_value() == lab.kernel  # the notebook's own kernel
    param = dialog.locator('[data-testid="jck-batch-param"][data-name="greeting"] input')
    assert param.input_value() == "'hello'"  # pre-filled from the parameters cell
    param.fill("'from batch '")
    preview = dialog.locator('[data-testid="jck-batch-preview"]')
    page.wait_for_function(
        "el => el.textContent.includes('#SBATCH')", arg=preview.element_handle(), timeout=30_000
    )
    shot("batch-dialog")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()

    # 6. The notification names the job and opens the jobs panel.
    toast = page.locator(".Toastify__toast", has_text="submitted")
    toast.wait_for(state="visible")
    job_id = re.search(r"Batch job (\d+)", toast.inner_text()).group(1)  # type: ignore[union-attr]
    page.wait_for_timeout(1000)  # let the toast finish sliding in, for the screenshot only
    shot("submitted-notification")
    toast.get_by_role("button", name="Show in Batch jobs").click()
    jobs = page.locator("#jck-jobs-panel")
    jobs.wait_for(state="visible")
    job = jobs.locator(f'[data-testid="jck-job"][data-job-id="{job_id}"]')
    job.wait_for(state="visible")
    shot("jobs-panel-submitted")

    # 7. It reaches COMPLETED; the log tail and the output notebook are one click away.
    jobs.locator(
        f'[data-testid="jck-job"][data-job-id="{job_id}"][data-state="COMPLETED"]'
    ).wait_for(timeout=JOB_TIMEOUT_MS)
    job.locator('[data-testid="jck-job-log-toggle"]').click()
    job.locator('[data-testid="jck-job-log"]').wait_for(state="visible")
    shot("job-completed-with-log")
    assert lab.api(f"container-kernels/jobs/{job_id}")["state"] == "COMPLETED"

    job.locator('[data-testid="jck-job-open-output"]').first.click()
    output_nb = page.locator(".jp-NotebookPanel", has_text="from batch from batch").last
    output_nb.wait_for(state="visible", timeout=30_000)
    assert "py-ipykernel" in output_nb.inner_text()
    assert "edited in the browser" in output_nb.inner_text()  # the saved edit ran
    shot("output-notebook")

    # 8. Hidden, the jobs panel asks the server nothing (it refreshes every 3 s when shown).
    polled: list[str] = []
    page.on(
        "request", lambda r: polled.append(r.url) if "/container-kernels/jobs" in r.url else None
    )
    open_side_panel(page, "filebrowser")
    polled.clear()
    page.wait_for_timeout(7_000)
    assert polled == [], polled

    # 9. From the file browser's context menu: a sweep over `repeat` becomes a job array.
    page.locator(".jp-DirListing-item", has_text="demo.ipynb").click(button="right")
    page.locator('.lm-Menu-item[data-command="container-kernels:submit-batch"]').click()
    # The open demo.ipynb is dirty again if its kernel wrote language_info: save when asked.
    first = page.locator(".jp-Dialog").first
    first.wait_for(state="visible")
    if "Save changes before submitting?" in first.inner_text():
        first.get_by_role("button", name="Save and continue").click()
    dialog.wait_for(state="visible")
    dialog.locator('[data-testid="jck-batch-sweep"]').check()
    dialog.locator('[data-testid="jck-batch-sweep-name"]').select_option("repeat")
    dialog.locator('[data-testid="jck-batch-sweep-values"]').fill("1, 3")
    page.wait_for_function(
        "el => el.textContent.includes('--array')", arg=preview.element_handle(), timeout=30_000
    )
    shot("batch-sweep-dialog")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    toast = page.locator(".Toastify__toast", has_text="Job array")
    toast.wait_for(state="visible")
    array_id = re.search(r"Job array (\d+) \(2 tasks\)", toast.inner_text()).group(1)  # type: ignore[union-attr]
    toast.get_by_role("button", name="Show in Batch jobs").click()
    array = jobs.locator(f'[data-testid="jck-job"][data-job-id="{array_id}"]')
    array.wait_for(state="visible")
    array.locator('[data-testid="jck-job-task"][data-state="COMPLETED"]').nth(1).wait_for(
        timeout=JOB_TIMEOUT_MS
    )
    shot("job-array-completed")
    array.locator('[data-testid="jck-job-task"]').nth(1).get_by_role("button").click()
    page.locator(".jp-NotebookPanel", has_text="hellohellohello").last.wait_for(state="visible")

    # 10. Removing the kernel registered in step 4 takes its tile out of the launcher.
    panel = open_side_panel(page, "jck-kernels-panel")
    registered.locator('[data-testid="jck-kernel-remove"]').click()
    confirm = page.locator(".jp-Dialog", has_text="Remove container kernel")
    confirm.get_by_role("button", name="Remove").click()
    registered.wait_for(state="detached")
    assert panel.locator('[data-testid="jck-register-notice"]').count() == 0
    open_launcher(page)
    launcher_tile(page, lab.kernel_display_name).wait_for(state="visible")
    assert launcher_tile(page, "Registered in the UI (container)").count() == 0
    shot("removed-kernel")
