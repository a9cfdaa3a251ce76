"""The coverage summary: points per module, uncovered lines traced to Python, Yosys's
never-true branches left out."""

from tinyeie.sim.coverage import summarise

VERILOG = """module top;
  reg \\$auto$verilog_backend.cc:2355:dump_module$1  = 0;
  (* src = "/x/hw/pe.py:10" *)
  always @* begin
    if (\\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
    a = b;
  end
  (* src = "/x/hw/pe.py:20" *)
  assign c = d ? 1 : e;
endmodule
"""


def point(kind, line, count, comment="block"):
    return {"page": f"{kind}/top", "file": "top.v", "line": line, "hier": "top",
            "comment": comment, "count": count}


def test_uncovered_lines_are_traced_and_dummy_branches_left_out():
    points = [point("v_branch", 5, 0, "if"), point("v_line", 6, 3),
              point("v_branch", 9, 0, "cond_then"), point("v_toggle", 9, 1, "c")]
    [module] = summarise(points, VERILOG)
    assert module["module"] == "top"
    assert (module["lines_total"], module["lines_hit"], module["excluded"]) == (2, 1, 1)
    assert module["uncovered"] == [{"source": "hw/pe.py:20", "points": 1}]
    assert (module["toggles_total"], module["toggles_hit"]) == (1, 1)
